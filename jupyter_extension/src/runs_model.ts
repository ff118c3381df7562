// The runs the sidebar shows, asked of the server every few seconds while
// a section that shows them is visible; sections redraw on `changed`.

import { Signal } from "@lumino/signaling";
import { listRuns, type RunRecord } from "./api";

export class RunsModel {
  readonly changed = new Signal<this, void>(this);
  runs: RunRecord[] = [];
  error = "";
  /** The server's runs folder (absolute), once it said. */
  runsDir = "";
  private timer: number | undefined;
  private watchers = new Set<() => boolean>();

  constructor(private seconds: number) {}

  set interval(seconds: number) {
    this.seconds = seconds;
    if (this.timer !== undefined) this.start();
  }

  /** Polls while any watcher says it is visible. */
  watch(visible: () => boolean): void {
    this.watchers.add(visible);
    if (this.timer === undefined) this.start();
  }

  async refresh(): Promise<void> {
    try {
      this.runs = await listRuns();
      this.error = "";
    } catch (e) {
      this.error = String((e as Error).message ?? e);
    }
    this.changed.emit();
  }

  dispose(): void {
    window.clearInterval(this.timer);
    this.timer = undefined;
    Signal.clearData(this);
  }

  private start(): void {
    window.clearInterval(this.timer);
    this.timer = window.setInterval(
      () => {
        if ([...this.watchers].some((visible) => visible())) void this.refresh();
      },
      1000 * Math.max(0.5, this.seconds),
    );
  }
}
