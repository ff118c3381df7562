// The Symphony workbench in JupyterLab: a sidebar of runs and Conductors,
// a main-area view per run, palette commands, a launcher item and settings.
// The VDOM mime renderer is its own entry (vdom_renderer.ts).

import { ILabShell, ILayoutRestorer, type JupyterFrontEnd, type JupyterFrontEndPlugin } from "@jupyterlab/application";
import { ICommandPalette, MainAreaWidget, WidgetTracker } from "@jupyterlab/apputils";
import { ILauncher } from "@jupyterlab/launcher";
import { ISettingRegistry } from "@jupyterlab/settingregistry";
import { LabIcon, SidePanel } from "@jupyterlab/ui-components";
import { ArtifactView } from "./artifact_view";
import { CompareView } from "./compare_view";
import { QuestView } from "./quest_view";
import { ArtifactsSection } from "./artifacts_panel";
import { ExtensionsSection } from "./extensions_panel";
import { RunsModel } from "./runs_model";
import { ConductorsSection, type PanelSettings, RunsSection } from "./runs_panel";
import { RunView } from "./run_view";

const PLUGIN = "@symphony-lab/jupyterlab:plugin";

export const symphonyIcon = new LabIcon({
  name: "symphony:icon",
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><g class="jp-icon3" fill="#616161">' +
    '<path d="M9 3v10.6A4 4 0 1 0 11 17V7h8V3z"/><circle cx="18" cy="17" r="3"/></g></svg>',
});

export const CommandIds = {
  showRuns: "symphony:show-runs",
  openRun: "symphony:open-run",
  openArtifact: "symphony:open-artifact",
  compareRuns: "symphony:compare-runs",
  openQuest: "symphony:open-quest",
  refresh: "symphony:refresh-runs",
} as const;

const DEFAULTS: PanelSettings & { smoothing: number } = {
  refreshSeconds: 2,
  tiers: ["medium", "easy", "hard", "expert", "tutorial"],
  packs: ["test-medium", "test-hard", "test-expert", "ood", "ood-large"],
  defaultSteps: 30000,
  smoothing: 0.6,
};

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN,
  description: "Runs and Conductors of the Symphony workbench",
  autoStart: true,
  requires: [ILabShell],
  optional: [ICommandPalette, ILauncher, ISettingRegistry, ILayoutRestorer],
  activate: (
    app: JupyterFrontEnd,
    shell: ILabShell,
    palette: ICommandPalette | null,
    launcher: ILauncher | null,
    registry: ISettingRegistry | null,
    restorer: ILayoutRestorer | null,
  ) => {
    let settings = { ...DEFAULTS };
    const tracker = new WidgetTracker<MainAreaWidget<RunView>>({ namespace: "symphony-run" });

    const openRun = (id: string): MainAreaWidget<RunView> => {
      const open = tracker.find((w) => w.content.runId === id);
      if (open) {
        shell.activateById(open.id);
        return open;
      }
      const widget = new MainAreaWidget({ content: new RunView(id, settings.smoothing) });
      widget.id = `symphony-run-${id}`;
      widget.title.label = `Run ${id}`;
      widget.title.icon = symphonyIcon;
      void tracker.add(widget);
      shell.add(widget, "main");
      shell.activateById(widget.id);
      return widget;
    };

    const artifacts = new WidgetTracker<MainAreaWidget<ArtifactView>>({ namespace: "symphony-artifact" });
    const openArtifact = (hash: string): MainAreaWidget<ArtifactView> => {
      const open = artifacts.find((w) => w.content.hash === hash);
      if (open) {
        shell.activateById(open.id);
        return open;
      }
      const view = new ArtifactView(hash, (h) => void app.commands.execute(CommandIds.openArtifact, { hash: h }));
      const widget = new MainAreaWidget({ content: view });
      widget.id = `symphony-artifact-${hash}`;
      widget.title.icon = symphonyIcon;
      widget.title.label = view.title.label;
      view.title.changed.connect(() => (widget.title.label = view.title.label));
      void artifacts.add(widget);
      shell.add(widget, "main");
      shell.activateById(widget.id);
      return widget;
    };

    const model = new RunsModel(settings.refreshSeconds);
    const open = (id: string) => void app.commands.execute(CommandIds.openRun, { id });
    const compare = (ids: string[]) => void app.commands.execute(CommandIds.compareRuns, { ids });
    const runs = new RunsSection(model, open, settings, compare);
    const conductors = new ConductorsSection(model, open, settings);
    const store = new ArtifactsSection((hash) => void app.commands.execute(CommandIds.openArtifact, { hash }));
    const extensions = new ExtensionsSection();
    const panel = new SidePanel();
    panel.id = "symphony-sidebar";
    panel.addClass("symphony-panel");
    panel.title.icon = symphonyIcon;
    panel.title.caption = "Symphony: runs, Conductors, artifacts, extensions";
    for (const section of [runs, conductors, store, extensions]) panel.addWidget(section);
    shell.add(panel, "left", { rank: 600 });
    restorer?.add(panel, panel.id);
    if (restorer) {
      void restorer.restore(tracker, {
        command: CommandIds.openRun,
        args: (w) => ({ id: w.content.runId }),
        name: (w) => w.content.runId,
      });
      void restorer.restore(artifacts, {
        command: CommandIds.openArtifact,
        args: (w) => ({ hash: w.content.hash }),
        name: (w) => w.content.hash,
      });
    }

    app.commands.addCommand(CommandIds.showRuns, {
      label: "Symphony: Show Runs",
      caption: "Runs and Conductors in the sidebar",
      icon: symphonyIcon,
      execute: () => shell.activateById(panel.id),
    });
    app.commands.addCommand(CommandIds.openRun, {
      label: (args) => (args.id ? `Symphony: Open Run ${String(args.id)}` : "Symphony: Open Run"),
      execute: (args) => {
        if (typeof args.id !== "string" || !args.id) throw new Error("symphony:open-run needs an id");
        return openRun(args.id);
      },
    });
    app.commands.addCommand(CommandIds.openArtifact, {
      label: (args) => (args.hash ? `Symphony: Open Artifact ${String(args.hash).slice(0, 12)}` : "Symphony: Open Artifact"),
      execute: (args) => {
        if (typeof args.hash !== "string" || !args.hash) throw new Error("symphony:open-artifact needs a hash");
        return openArtifact(args.hash);
      },
    });
    app.commands.addCommand(CommandIds.compareRuns, {
      label: "Symphony: Compare Runs",
      execute: (args) => {
        const ids = Array.isArray(args.ids) ? args.ids.map(String) : [];
        if (ids.length < 2) throw new Error("symphony:compare-runs needs two run ids or more");
        const widget = new MainAreaWidget({ content: new CompareView(ids, settings.smoothing) });
        widget.title.icon = symphonyIcon;
        widget.title.label = `Compare ${ids.length} runs`;
        shell.add(widget, "main");
        shell.activateById(widget.id);
        return widget;
      },
    });
    let quest: MainAreaWidget<QuestView> | null = null;
    app.commands.addCommand(CommandIds.openQuest, {
      label: "Function Quest",
      caption: "Browse the packs, play a level, compare your plan with the solver's and the Conductor's",
      icon: symphonyIcon,
      execute: () => {
        if (!quest || quest.isDisposed) {
          quest = new MainAreaWidget({ content: new QuestView() });
          quest.id = "symphony-quest-main";
          quest.title.icon = symphonyIcon;
          quest.title.label = "Function Quest";
          shell.add(quest, "main");
        }
        shell.activateById(quest.id);
        return quest;
      },
    });
    app.commands.addCommand(CommandIds.refresh, {
      label: "Symphony: Refresh",
      execute: () => Promise.all([model.refresh(), store.refresh(), extensions.refresh()]),
    });
    for (const command of [CommandIds.showRuns, CommandIds.openQuest, CommandIds.refresh]) palette?.addItem({ command, category: "Symphony" });
    launcher?.add({ command: CommandIds.showRuns, category: "Symphony", rank: 1 });
    launcher?.add({ command: CommandIds.openQuest, category: "Symphony", rank: 2 });

    if (registry) {
      void registry.load(PLUGIN).then((loaded) => {
        const read = () => {
          settings = { ...DEFAULTS, ...(loaded.composite as Partial<typeof DEFAULTS>) };
          model.interval = settings.refreshSeconds;
          runs.configure(settings);
          conductors.configure(settings);
        };
        read();
        loaded.changed.connect(read);
      });
    }
  },
};

export default plugin;
