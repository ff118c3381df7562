"""A second family of levels, written apart from ``generator.py``: templates
of real pipelines, for evaluation only (the Conductor never trains on them).

Each template is a pipeline people run: training a model, moving data,
releasing software, writing a paper, answering an incident. It lists its
stages in order; each stage makes one artifact from earlier ones, in one or
more ways (a tool or a model, each with its price, its reliability and its
warm-up). ``pipeline(template, seed)`` draws one level from it:

- which optional stages the pipeline has, so sizes vary (20 to 48 functions);
- each way's numbers, and which ways are *flaky* (cheap, failing often) or
  *steady* (dearer, never failing);
- *bait*: cheap tools from what is at hand to artifacts nothing needs;
- *shortcuts*: one call across several stages, sometimes cheaper than the
  chain it skips and sometimes dearer;
- *batches*: a resource each of several jobs uses up, from a way that is
  cheap per call but slow to warm, or one dear per call with no warm-up;
- *deliverables*: more than one essential goal, and optional goals, some
  worth their cost and some not.

No function both warms up and fails, so every level's best expected cost is
exact (``expected_optimum``'s "retry" method). The budget leaves room over
that cost. Packs ``ood-<family>`` hold 40 levels per template, and
``ood-large`` 30 generated levels bigger than any training level.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from typing import Any

from function_quest.generator import Knobs, generate
from symphony_lab.planning import (
    Function,
    Goal,
    Level,
    SearchLimitError,
    expected_costs,
    solve,
)


@dataclass(frozen=True)
class Way:
    """One way to make a stage's artifact."""

    name: str
    #: Range of the price per call.
    cost: tuple[float, float]
    #: ``"flaky"``: cheap and often failing; ``"warm"``: a warm-up first.
    kind: str = "plain"


@dataclass(frozen=True)
class Stage:
    """Makes ``output`` from ``inputs`` (earlier artifacts), in one of ``ways``."""

    output: str
    inputs: tuple[str, ...]
    ways: tuple[Way, ...]
    #: Drawn into a level or not (the pipeline's variants).
    optional: bool = False
    #: Inputs used up by the call.
    consumes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Template:
    family: str
    story: str
    start: tuple[str, ...]
    stages: tuple[Stage, ...]
    #: Essential deliverables; the first is always one, the others by draw.
    deliverables: tuple[str, ...]
    #: Optional goals: (artifact, the stage that makes it from, its cost range).
    extras: tuple[tuple[str, str, tuple[float, float]], ...]
    #: Names for bait and side tools: (verb, what it makes).
    bait: tuple[tuple[str, str], ...]
    #: Jobs that each use up a resource: (resource, [jobs], what they add up to).
    batch: tuple[str, tuple[str, ...], str] | None = None
    descriptions: dict[str, str] = field(default_factory=dict)


def _w(name: str, lo: float, hi: float, kind: str = "plain") -> Way:
    return Way(name, (lo, hi), kind)


TEMPLATES: dict[str, Template] = {
    "ml_training": Template(
        family="ml_training",
        story="Train a model from raw logs and ship it with its evaluation.",
        start=("raw_logs", "label_guide"),
        stages=(
            Stage(
                "dataset",
                ("raw_logs",),
                (_w("ingest_logs", 1, 2), _w("bulk_import", 0.5, 1, "flaky")),
            ),
            Stage("deduped", ("dataset",), (_w("dedupe", 0.5, 1.5),), optional=True),
            Stage(
                "labels",
                ("dataset", "label_guide"),
                (
                    _w("crowd_label", 3, 5),
                    _w("auto_label", 1, 2, "flaky"),
                    _w("expert_label", 6, 9),
                ),
            ),
            Stage(
                "clean_data", ("dataset", "labels"), (_w("clean", 1, 2), _w("strict_clean", 2, 3))
            ),
            Stage("splits", ("clean_data",), (_w("split_data", 0.5, 1),), consumes=("clean_data",)),
            Stage(
                "features",
                ("splits",),
                (_w("featurize", 1, 3), _w("gpu_featurize", 0.5, 1, "warm")),
            ),
            Stage("augmented", ("features",), (_w("augment", 1, 2),), optional=True),
            Stage(
                "model",
                ("features", "splits"),
                (
                    _w("train_gpu", 1, 2, "warm"),
                    _w("train_cpu", 4, 7),
                    _w("train_spot", 1, 2, "flaky"),
                ),
            ),
            Stage("tuned_model", ("model", "splits"), (_w("tune_hparams", 2, 4),), optional=True),
            Stage(
                "metrics",
                ("model", "splits"),
                (_w("evaluate", 1, 2), _w("quick_eval", 0.5, 1, "flaky")),
            ),
            Stage("model_package", ("model", "metrics"), (_w("package_model", 1, 2),)),
        ),
        deliverables=("model_package", "metrics"),
        extras=(
            ("model_card", "metrics", (1, 2)),
            ("explanations", "model", (2, 5)),
            ("dashboard", "metrics", (3, 6)),
        ),
        bait=(
            ("download_pretrained", "pretrained_weights"),
            ("scrape_web", "web_corpus"),
            ("plot_histograms", "histograms"),
            ("run_notebook", "notebook_output"),
            ("profile_memory", "memory_profile"),
            ("sample_rows", "row_sample"),
        ),
        batch=("gpu_slot", ("train_fold_a", "train_fold_b", "train_fold_c"), "cross_validation"),
    ),
    "data_engineering": Template(
        family="data_engineering",
        story="Move a day of events from the source database to a warehouse table.",
        start=("source_db", "schema_spec"),
        stages=(
            Stage(
                "snapshot",
                ("source_db",),
                (_w("dump_tables", 1, 2), _w("cdc_stream", 0.5, 1, "flaky")),
            ),
            Stage(
                "raw_files", ("snapshot",), (_w("export_parquet", 1, 2), _w("export_csv", 0.5, 1))
            ),
            Stage(
                "validated",
                ("raw_files", "schema_spec"),
                (_w("validate_schema", 1, 2), _w("lenient_validate", 0.3, 0.8, "flaky")),
            ),
            Stage("deduplicated", ("validated",), (_w("dedupe_rows", 1, 3),), optional=True),
            Stage(
                "enriched",
                ("validated",),
                (_w("join_dimensions", 2, 4), _w("lookup_service", 1, 2, "flaky")),
            ),
            Stage(
                "partitioned",
                ("enriched",),
                (_w("partition_by_day", 0.5, 1.5),),
                consumes=("enriched",),
            ),
            Stage(
                "compacted",
                ("partitioned",),
                (_w("spark_compact", 1, 2, "warm"), _w("local_compact", 3, 5)),
            ),
            Stage(
                "loaded",
                ("compacted", "schema_spec"),
                (_w("bulk_load", 1, 3), _w("stream_load", 0.5, 1, "flaky")),
            ),
            Stage("quality_report", ("loaded",), (_w("check_quality", 1, 2),)),
            Stage("catalog_entry", ("loaded",), (_w("register_catalog", 0.5, 1),), optional=True),
        ),
        deliverables=("loaded", "quality_report"),
        extras=(
            ("lineage_graph", "loaded", (1, 3)),
            ("cost_report", "compacted", (3, 6)),
            ("sla_alert", "quality_report", (0.5, 1.5)),
        ),
        bait=(
            ("sample_events", "event_sample"),
            ("count_rows", "row_counts"),
            ("preview_table", "table_preview"),
            ("archive_logs", "log_archive"),
            ("snapshot_metrics", "db_metrics"),
            ("export_json", "json_dump"),
        ),
        batch=(
            "cluster_lease",
            ("compact_part_1", "compact_part_2", "compact_part_3"),
            "all_parts",
        ),
    ),
    "software_release": Template(
        family="software_release",
        story="Cut a release: build, test, sign and publish it with its notes.",
        start=("source_tree", "changelog_draft"),
        stages=(
            Stage(
                "dependencies",
                ("source_tree",),
                (_w("resolve_deps", 0.5, 1.5), _w("mirror_deps", 0.3, 0.6, "flaky")),
            ),
            Stage(
                "build",
                ("source_tree", "dependencies"),
                (
                    _w("compile_release", 2, 4),
                    _w("remote_build", 1, 2, "warm"),
                    _w("cached_build", 0.5, 1, "flaky"),
                ),
            ),
            Stage("unit_results", ("build",), (_w("run_unit_tests", 1, 2),)),
            Stage(
                "integration_results",
                ("build",),
                (_w("run_integration", 2, 4), _w("run_integration_fast", 1, 2, "flaky")),
                optional=True,
            ),
            Stage(
                "artifact",
                ("build", "unit_results"),
                (_w("package_release", 1, 2),),
                consumes=("build",),
            ),
            Stage(
                "signature",
                ("artifact",),
                (_w("sign_hsm", 1, 2, "warm"), _w("sign_software_key", 2, 4)),
            ),
            Stage(
                "release_notes",
                ("changelog_draft", "unit_results"),
                (_w("write_notes", 1, 3), _w("generate_notes_llm", 0.5, 1, "flaky")),
            ),
            Stage(
                "published",
                ("artifact", "signature"),
                (_w("publish_registry", 1, 2), _w("publish_mirror", 0.5, 1, "flaky")),
            ),
        ),
        deliverables=("published", "release_notes"),
        extras=(
            ("sbom", "artifact", (1, 2)),
            ("docs_site", "release_notes", (3, 6)),
            ("announcement", "release_notes", (0.5, 1.5)),
        ),
        bait=(
            ("lint_style", "style_report"),
            ("count_lines", "line_counts"),
            ("bump_dev_version", "dev_version"),
            ("render_diagrams", "diagrams"),
            ("fetch_issues", "issue_list"),
            ("benchmark_local", "local_benchmark"),
        ),
        batch=("test_runner", ("test_linux", "test_macos", "test_windows"), "platform_matrix"),
    ),
    "paper_writing": Template(
        family="paper_writing",
        story="Turn experiments into a submitted paper with its figures.",
        start=("experiment_logs", "outline"),
        stages=(
            Stage(
                "results_table",
                ("experiment_logs",),
                (_w("aggregate_results", 1, 2), _w("llm_summarize_logs", 0.5, 1, "flaky")),
            ),
            Stage(
                "figures",
                ("results_table",),
                (_w("plot_figures", 1, 3), _w("render_gpu_figures", 0.5, 1, "warm")),
            ),
            Stage(
                "related_work",
                ("outline",),
                (_w("survey_literature", 2, 4), _w("llm_related_work", 1, 2, "flaky")),
            ),
            Stage(
                "draft",
                ("outline", "results_table", "related_work"),
                (_w("write_draft", 3, 5), _w("llm_draft", 1, 2, "flaky")),
            ),
            Stage(
                "revised_draft", ("draft", "figures"), (_w("revise", 1, 3),), consumes=("draft",)
            ),
            Stage(
                "proofread",
                ("revised_draft",),
                (_w("proofread_human", 2, 3), _w("grammar_tool", 0.5, 1)),
                optional=True,
            ),
            Stage(
                "pdf",
                ("revised_draft", "figures"),
                (_w("typeset_latex", 0.5, 1, "warm"), _w("typeset_online", 2, 3)),
            ),
            Stage(
                "submission",
                ("pdf",),
                (_w("submit_portal", 0.5, 1), _w("submit_by_email", 0.3, 0.6, "flaky")),
            ),
        ),
        deliverables=("submission", "pdf"),
        extras=(
            ("arxiv_preprint", "pdf", (0.5, 1.5)),
            ("code_release", "results_table", (2, 5)),
            ("poster", "figures", (3, 6)),
        ),
        bait=(
            ("tweak_fonts", "font_choices"),
            ("collect_quotes", "quote_list"),
            ("brainstorm_titles", "title_ideas"),
            ("draw_logo", "logo"),
            ("rerun_baseline", "baseline_log"),
            ("format_bibtex", "bibtex_draft"),
        ),
        batch=(
            "reviewer_hours",
            ("internal_review_1", "internal_review_2", "internal_review_3"),
            "reviews",
        ),
    ),
    "incident_response": Template(
        family="incident_response",
        story="Page to postmortem: restore the service and explain what broke.",
        start=("alert", "runbook"),
        stages=(
            Stage(
                "triage",
                ("alert",),
                (_w("manual_triage", 1, 2), _w("bot_triage", 0.3, 0.6, "flaky")),
            ),
            Stage(
                "logs",
                ("triage",),
                (_w("pull_logs", 0.5, 1.5), _w("log_search_cluster", 0.5, 1, "warm")),
            ),
            Stage("metrics_view", ("triage",), (_w("open_dashboards", 0.5, 1),), optional=True),
            Stage(
                "diagnosis",
                ("logs", "runbook"),
                (
                    _w("diagnose", 2, 4),
                    _w("llm_diagnose", 1, 2, "flaky"),
                    _w("escalate_expert", 5, 8),
                ),
            ),
            Stage(
                "mitigation",
                ("diagnosis",),
                (_w("rollback", 1, 2), _w("hotfix", 2, 4), _w("feature_flag_off", 0.5, 1, "flaky")),
            ),
            Stage(
                "service_restored",
                ("mitigation",),
                (_w("verify_recovery", 0.5, 1.5),),
                consumes=("mitigation",),
            ),
            Stage("timeline", ("logs", "triage"), (_w("build_timeline", 1, 2),)),
            Stage(
                "postmortem",
                ("timeline", "diagnosis"),
                (_w("write_postmortem", 2, 4), _w("llm_postmortem", 1, 2, "flaky")),
            ),
        ),
        deliverables=("service_restored", "postmortem"),
        extras=(
            ("status_update", "triage", (0.5, 1)),
            ("action_items", "postmortem", (1, 2)),
            ("chaos_test", "mitigation", (3, 6)),
        ),
        bait=(
            ("restart_everything", "restart_noise"),
            ("grep_old_logs", "old_log_lines"),
            ("page_whole_team", "page_storm"),
            ("tweet_apology", "tweet"),
            ("open_war_room", "war_room"),
            ("dump_heap", "heap_dump"),
        ),
        batch=(
            "on_call_shift",
            ("check_region_eu", "check_region_us", "check_region_ap"),
            "regions_checked",
        ),
    ),
}

FAMILIES = tuple(TEMPLATES)


class _Level:
    """A level being drawn: its kinds and functions, by name."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.kinds: dict[str, str] = {}
        self.functions: list[Function] = []

    def kind(self, name: str, description: str = "") -> str:
        self.kinds.setdefault(name, description or name.replace("_", " "))
        return name

    def add(self, name: str, **fields: Any) -> None:
        taken = {f.name for f in self.functions}
        unique, n = name, 2
        while unique in taken:
            unique, n = f"{name}_{n}", n + 1
        self.functions.append(Function(name=unique, returns=f"{unique} done", **fields))

    def price(self, lo_hi: tuple[float, float]) -> float:
        return round(self.rng.uniform(*lo_hi), 1)


def pipeline(family: str, seed: int) -> Level:
    """One level of the ``family`` template, the same for the same seed."""
    if family not in TEMPLATES:
        raise ValueError(f"unknown pipeline {family!r}; expected one of {list(TEMPLATES)}")
    t = TEMPLATES[family]
    for attempt in range(50):
        level = _draw(t, random.Random(f"{family}:{seed}:{attempt}"), seed)
        if level is not None:
            return level
    raise RuntimeError(f"no solvable {family} level for seed {seed}")  # pragma: no cover


def _draw(t: Template, rng: random.Random, seed: int) -> Level | None:
    b = _Level(rng)
    for k in t.start:
        b.kind(k)
    # About a third of the levels have no flaky way at all.
    steady = rng.random() < 0.35
    size = rng.randint(20, 48)
    stages = [s for s in t.stages if not s.optional or rng.random() < 0.5]
    made = set(t.start)
    order: list[str] = []
    for s in stages:
        inputs = tuple(k for k in s.inputs if k in made) or (order[-1] if order else t.start[0],)
        b.kind(s.output)
        ways = [w for w in s.ways if not (steady and w.kind == "flaky")]
        rng.shuffle(ways)
        for way in ways[: rng.randint(1, len(ways))] if len(ways) > 1 else ways:
            _add_way(b, way, inputs, s)
        made.add(s.output)
        order.append(s.output)

    # Shortcuts: one call across two to four stages, dearer or cheaper than the chain.
    for _ in range(rng.randint(1, 3)):
        if len(order) < 3:
            break
        i = rng.randrange(0, len(order) - 2)
        j = min(len(order) - 1, i + rng.randint(2, 4))
        source, target = order[i], order[j]
        span = sum(rng.uniform(1.0, 2.5) for _ in range(j - i))
        factor = rng.choice([0.6, 0.8, 1.3, 1.7, 2.2])
        b.add(
            f"express_{source}_to_{target}",
            reads=(source,),
            produces=(target,),
            cost=round(span * factor, 1),
        )

    # Bait: cheap tools from what is at hand to artifacts nothing needs, some in chains.
    at_hand = list(t.start) + order[:2]
    for verb, product in rng.sample(t.bait, rng.randint(3, len(t.bait))):
        src = rng.choice(at_hand)
        b.kind(product)
        b.add(verb, reads=(src,), produces=(product,), cost=round(rng.uniform(0.1, 0.6), 1))
        if rng.random() < 0.4:
            nxt = b.kind(f"{product}_summary")
            b.add(f"summarize_{product}", reads=(product,), produces=(nxt,), cost=0.2)

    # A batch: jobs each use up a resource; a warm-up once, or a dearer call each time.
    essential = [t.deliverables[0]] + [
        d for d in t.deliverables[1:] if d in made and rng.random() < 0.7
    ]
    if t.batch is not None and rng.random() < 0.6:
        resource, jobs, total = t.batch
        base = rng.choice(order[1:4])
        b.kind(resource)
        b.add(
            f"reserve_{resource}_pool",
            reads=(base,),
            produces=(resource,),
            cost=round(rng.uniform(0.3, 0.8), 1),
            warmup=round(rng.uniform(3, 6), 1),
        )
        b.add(
            f"borrow_{resource}",
            reads=(base,),
            produces=(resource,),
            cost=round(rng.uniform(1.8, 3.5), 1),
        )
        parts = []
        for job in jobs:
            part = b.kind(f"{job}_result")
            b.add(job, consumes=(resource,), produces=(part,), cost=round(rng.uniform(0.3, 1.0), 1))
            parts.append(part)
        b.kind(total)
        b.add(f"combine_{total}", reads=tuple(parts), produces=(total,), cost=1.0)
        essential.append(total)

    # Optional goals, worth their cost or not.
    goals = [Goal(k, "essential", 10.0) for k in dict.fromkeys(essential)]
    for product, source, lo_hi in t.extras:
        if source not in made or rng.random() < 0.3:
            continue
        b.kind(product)
        cost = b.price(lo_hi)
        b.add(f"make_{product}", reads=(source,), produces=(product,), cost=cost)
        worth = rng.random() < 0.5
        reward = round(cost * rng.uniform(1.5, 3.0) if worth else cost * rng.uniform(0.2, 0.7), 1)
        goals.append(Goal(product, rng.choice(["recommended", "optional"]), reward))

    # Side tools up to the level's size: bait from any stage's artifact, and
    # dearer second ways to make a stage's artifact from a later one.
    while len(b.functions) < size - 2 and len(b.kinds) < 60:
        if rng.random() < 0.6:
            verb, product = rng.choice(t.bait)
            src = rng.choice(order)
            side = b.kind(f"{product}_of_{src}")
            b.add(
                f"{verb}_{src}",
                reads=(src,),
                produces=(side,),
                cost=round(rng.uniform(0.1, 1.0), 1),
            )
        else:
            i, j = sorted(rng.sample(range(len(order)), 2))
            b.add(
                f"rederive_{order[i]}",
                reads=(order[j],),
                produces=(order[i],),
                cost=round(rng.uniform(2, 5), 1),
            )

    # Reverse tools: rebuild an earlier artifact from a later one.
    for _ in range(rng.randint(0, 2)):
        if len(order) < 3:
            break
        i, j = sorted(rng.sample(range(len(order)), 2))
        b.add(
            f"recover_{order[i]}",
            reads=(order[j],),
            produces=(order[i],),
            cost=round(rng.uniform(1, 3), 1),
            reverse=True,
        )

    if not 20 <= len(b.functions) <= 48 or len(b.kinds) > 64:
        return None
    level = Level(
        id=f"{t.family}-{seed}",
        title=f"{t.family.replace('_', ' ').capitalize()} {seed}",
        story=t.story,
        kinds=b.kinds,
        initial=t.start,
        goals=tuple(goals),
        functions=tuple(b.functions),
        budget=1e6,
        difficulty="custom",
        seed=seed,
        meta={"family": t.family},
    )
    plan = solve(expected_costs(level), budget=float("inf"))
    if plan is None:
        return None
    # Room for bad luck: a run that retries flaky calls rarely runs out.
    return replace(level, budget=round(plan.cost * rng.uniform(2.0, 3.0) + 10.0, 1))


def _add_way(b: _Level, way: Way, inputs: tuple[str, ...], s: Stage) -> None:
    consumes = tuple(k for k in s.consumes if k in inputs)
    reads = tuple(k for k in inputs if k not in consumes)
    cost = b.price(way.cost)
    failure = round(b.rng.uniform(0.25, 0.5), 2) if way.kind == "flaky" else 0.0
    warmup = round(b.rng.uniform(3.0, 7.0), 1) if way.kind == "warm" else 0.0
    b.add(
        way.name,
        reads=reads,
        consumes=consumes,
        produces=(s.output,),
        cost=cost,
        failure=failure,
        warmup=warmup,
    )


#: Knobs of levels larger than any the Conductor trains on, up to the Pit's
#: limit of 64 functions and kinds: deeper, with more distractors, dead ends
#: and fallbacks than the expert tier.
LARGE = Knobs(5, (1, 2), 5, 3, 3, 0.15, 2, 1, 2, 1.4, True)
#: A large level is kept when the exact search proves its optimum within
#: this many states, so that its score compares with the true best.
LARGE_MAX_STATES = 100_000


def large(seed: int) -> Level:
    """A generated level with 41 to 64 functions (the Pit's limit)."""
    for attempt in range(200):
        level = generate(seed * 1000 + attempt, knobs=LARGE)
        if not (41 <= len(level.functions) <= 64 and len(level.kinds) <= 64):
            continue
        try:
            solve(expected_costs(level), budget=float("inf"), max_states=LARGE_MAX_STATES)
        except SearchLimitError:
            continue
        return replace(level, id=f"large-{seed}", meta={**level.meta, "family": "large"})
    raise RuntimeError(f"no large level for seed {seed}")  # pragma: no cover


__all__ = [
    "FAMILIES",
    "LARGE",
    "LARGE_MAX_STATES",
    "TEMPLATES",
    "Stage",
    "Template",
    "Way",
    "large",
    "pipeline",
]
