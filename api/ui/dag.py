"""The run's DAG as a layered drawing: layers by longest path from the sources, nodes
ordered within a layer by the barycentre of their neighbours, edges from the definition.

The layout is plain data (positions and paths); templates/_dag.html draws it as SVG.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from wfobj.engine import RunOutline, TaskDefinition, TaskGraph, TaskLine, TaskStatus

NODE_H = 50
MIN_W, MAX_W, CHAR_W = 132, 232, 8
H_GAP, V_GAP, MARGIN = 28, 46, 12
SWEEPS = 4
MAX_DRAWN = 400  # beyond this a picture stops helping; the task table still lists all
MAX_LABEL = 26

STATE_MARKS = {TaskStatus.PENDING: "○", TaskStatus.RUNNING: "▶", TaskStatus.SUCCESS: "✓",
               TaskStatus.FAILED: "✗", TaskStatus.SKIPPED: "–", TaskStatus.KILLED: "■"}


@dataclass(frozen=True)
class DagNode:
    name: str
    state: str
    x: int
    y: int
    width: int
    label: str
    cached: bool
    caption: str | None = None  # the second line, when not the state in words
    words: str | None = None  # what a screen reader says of the node, when not its state
    skip: str | None = None  # why a skipped task was skipped
    instances: int | None = None  # a fanned-out task's count of instances
    workflow: str | None = None  # a sub-workflow task's child workflow
    child: str | None = None  # its child run, once known

    @property
    def mark(self) -> str:
        return STATE_MARKS.get(self.state, "?")

    @property
    def state_line(self) -> str:
        return self.caption or state_line(self.state, self.cached)

    @property
    def cx(self) -> int:
        return self.x + self.width // 2


@dataclass(frozen=True)
class DagEdge:
    source: str
    target: str
    path: str


@dataclass(frozen=True)
class DagLayout:
    nodes: list[DagNode]
    edges: list[DagEdge]
    width: int
    height: int
    layers: int


def longest_path_layers(order: list[str], edges: list[tuple[str, str]]) -> dict[str, int]:
    """Layer of each task: 0 for sources, else one past its deepest dependency.
    `order` is topological, so every dependency is placed before its dependents."""
    parents: dict[str, list[str]] = {name: [] for name in order}
    for dep, name in edges:
        parents[name].append(dep)
    layer: dict[str, int] = {}
    for name in order:
        layer[name] = 1 + max((layer[p] for p in parents[name]), default=-1)
    return layer


def order_layers(order: list[str], layer: dict[str, int],
                 edges: list[tuple[str, str]]) -> list[list[str]]:
    """Tasks per layer, reordered by barycentre sweeps (down, then up) to cut crossings."""
    rows: list[list[str]] = [[] for _ in range(max(layer.values(), default=-1) + 1)]
    for name in order:
        rows[layer[name]].append(name)
    ups: dict[str, list[str]] = {n: [] for n in order}
    downs: dict[str, list[str]] = {n: [] for n in order}
    for dep, name in edges:
        ups[name].append(dep)
        downs[dep].append(name)
    for sweep in range(SWEEPS):
        down = sweep % 2 == 0
        indices = range(1, len(rows)) if down else range(len(rows) - 2, -1, -1)
        for i in indices:
            ref = {n: k for k, n in enumerate(rows[i - 1] if down else rows[i + 1])}
            here = {n: k for k, n in enumerate(rows[i])}
            near = ups if down else downs
            rows[i] = sorted(rows[i], key=lambda n: barycentre(near[n], ref, here[n]))
    return rows


def barycentre(neighbours: list[str], pos: dict[str, int], fallback: int) -> float:
    """Mean position of the neighbours in the reference layer (own place if none)."""
    placed = [pos[n] for n in neighbours if n in pos]
    return sum(placed) / len(placed) if placed else float(fallback)


def node_width(names: list[str]) -> int:
    longest = max((len(label_of(n)) for n in names), default=0)
    return max(MIN_W, min(MAX_W, longest * CHAR_W + 24))


def label_of(name: str) -> str:
    return name if len(name) <= MAX_LABEL else name[:MAX_LABEL - 1] + "…"


def layout(order: list[str], tasks: dict[str, TaskDefinition], states: dict[str, str],
           cached: frozenset[str] = frozenset()) -> DagLayout | None:
    """Positions for every task and a path for every edge; None past MAX_DRAWN tasks."""
    return layout_graph(order, TaskGraph.of(tasks).edges(), states, cached,
                        captions=[state_line(states.get(n, TaskStatus.PENDING), n in cached)
                                  for n in order])


def state_line(state: str, cached: bool) -> str:
    """The second line of a task's box: its state in words (templates/_dag.html)."""
    return f"{STATE_MARKS.get(state, '?')} {state}" + (" · cached" if cached else "")


def layout_graph(order: list[str], edges: list[tuple[str, str]], states: dict[str, str],
                 cached: frozenset[str] = frozenset(), labels: dict[str, str] | None = None,
                 captions: list[str] = ()) -> DagLayout | None:
    """The layered drawing of any DAG: `order` topological, `edges` (from, to) pairs,
    a label per node (its name unless given), boxes wide enough for the `captions` too;
    None when empty or past MAX_DRAWN nodes."""
    if not order or len(order) > MAX_DRAWN:
        return None
    labels = labels or {}
    rows = order_layers(order, longest_path_layers(order, edges), edges)
    width = node_width([labels.get(n, n) for n in order] + list(captions))
    widest = max(len(r) for r in rows) * (width + H_GAP) - H_GAP
    nodes: dict[str, DagNode] = {}
    for i, row in enumerate(rows):
        left = MARGIN + (widest - (len(row) * (width + H_GAP) - H_GAP)) // 2
        for k, name in enumerate(row):
            nodes[name] = DagNode(name, states.get(name, TaskStatus.PENDING), left + k * (width + H_GAP),
                                  MARGIN + i * (NODE_H + V_GAP), width,
                                  label_of(labels.get(name, name)), name in cached)
    return DagLayout([nodes[n] for n in order],
                     [DagEdge(a, b, edge_path(nodes[a], nodes[b])) for a, b in edges],
                     widest + 2 * MARGIN, len(rows) * (NODE_H + V_GAP) - V_GAP + 2 * MARGIN,
                     len(rows))


# the order a fanned-out node lists its instances' states in
COUNT_ORDER = (TaskStatus.SUCCESS, TaskStatus.RUNNING, TaskStatus.PENDING, TaskStatus.FAILED,
               TaskStatus.KILLED, TaskStatus.SKIPPED)
SKIP_WORDS = {"condition": "skipped by a condition", "failure": "skipped after a failure",
              "stopped": "skipped: the run stopped first"}


def counts_line(states: dict[str, int]) -> str:
    """`90 ✓ 4 ▶ 2 ✗`: a fanned-out node's instances by state, in COUNT_ORDER."""
    shown = [f"{states[s]} {STATE_MARKS[s]}" for s in COUNT_ORDER if states.get(s)]
    return " ".join(shown) or "no instances"


def counts_words(states: dict[str, int]) -> str:
    """`90 success, 4 running, 2 failed`."""
    return ", ".join(f"{states[s]} {s}" for s in COUNT_ORDER if states.get(s)) or "none"


def line_caption(line: TaskLine, cached: bool) -> str:
    """A run node's second line: counts for a fan-out, the kind for a skip, else the state."""
    if line.instances is not None:
        return counts_line(line.instances.states)
    if line.state == TaskStatus.SKIPPED and line.skip:
        return f"{STATE_MARKS[TaskStatus.SKIPPED]} skipped: {line.skip}"
    return state_line(line.state, cached)


def line_words(line: TaskLine, cached: bool, child: str | None = None) -> str:
    """What the node says to a screen reader and in its tooltip."""
    if line.workflow is not None:
        return (f"{line.name}: {line.state}, runs workflow {line.workflow}"
                + (f" as child run {child}" if child else ""))
    if line.instances is not None:
        n = line.instances.count
        return (f"{line.name}: {line.state}, {n} instance{'' if n == 1 else 's'}: "
                f"{counts_words(line.instances.states)}")
    if line.state == TaskStatus.SKIPPED and line.skip:
        return f"{line.name}: {SKIP_WORDS.get(line.skip, 'skipped: ' + line.skip)}"
    return f"{line.name}: {line.state}" + (", reused from the cache" if cached else "")


def outline_layout(outline: RunOutline,
                   children: dict[str, str] | None = None) -> DagLayout | None:
    """The run's DAG from its outline (engine task_outline): one node per task of the
    definition, a fanned-out task labelled `NAME ×N` with its instances' counts, a
    sub-workflow task with its child run (`children`: task → run id, for those whose
    evidence does not name it yet)."""
    lines = {line.name: line for line in outline.lines}
    children = {**(children or {}),
                **{n: line.evidence["child"] for n, line in lines.items() if line.evidence.get("child")}}
    cached = frozenset(n for n, line in lines.items() if line.evidence.get("cached_from"))
    labels = {n: f"{n} ×{line.instances.count}" if line.instances else n
              for n, line in lines.items()}
    captions = {n: line_caption(lines[n], n in cached) for n in outline.order}
    drawn = layout_graph(outline.order, outline.edges, {n: lines[n].state for n in lines},
                         cached, labels, list(captions.values()))
    if drawn is None:
        return None
    nodes = [replace(n, caption=captions[n.name],
                     words=line_words(lines[n.name], n.cached, children.get(n.name)),
                     skip=lines[n.name].skip if n.state == TaskStatus.SKIPPED else None,
                     instances=lines[n.name].instances.count if lines[n.name].instances else None,
                     workflow=lines[n.name].workflow, child=children.get(n.name))
             for n in drawn.nodes]
    return replace(drawn, nodes=nodes)


def edge_path(a: DagNode, b: DagNode) -> str:
    """A cubic curve from the bottom of `a` to the top of `b` (the arrowhead ends it)."""
    x1, y1, x2, y2 = a.cx, a.y + NODE_H, b.cx, b.y - 4
    bend = max(16, (y2 - y1) // 2)
    return f"M{x1},{y1} C{x1},{y1 + bend} {x2},{y2 - bend} {x2},{y2}"
