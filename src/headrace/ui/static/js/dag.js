// A pipeline version's DAG as SVG: steps are nodes, the datasets one step writes and the
// next reads label the edge between them. Datasets read from outside the pipeline, and
// outputs no step reads, are small dataset nodes at the ends. dagre (vendored, MIT) places
// nodes and routes edges left to right without overlaps; this module only draws.

import dagre from "../vendor/dagre/dagre.esm.js";
import { s } from "./dom.js";

const FONT = "13px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
const STEP_HEIGHT = 46;
const DATASET_HEIGHT = 26;

let canvas;
function textWidth(text, font = FONT) {
  canvas ??= document.createElement("canvas");
  const ctx = canvas.getContext("2d");
  ctx.font = font;
  return Math.ceil(ctx.measureText(text).width);
}

/** Nodes and edges of a version's steps (names follow the API: input/output_datasets). */
export function buildGraph(steps) {
  const writer = new Map();
  for (const step of steps) {
    for (const out of step.config.output_datasets) writer.set(out, step.name);
  }
  const read = new Set(steps.flatMap((st) => st.config.input_datasets));
  const nodes = steps.map((st) => ({ id: `step:${st.name}`, kind: "step", name: st.name }));
  const edges = new Map(); // "from→to" → edge
  const addEdge = (from, to, dataset) => {
    const key = `${from}→${to}`;
    if (!edges.has(key)) edges.set(key, { from, to, datasets: [] });
    if (dataset) edges.get(key).datasets.push(dataset);
  };
  for (const st of steps) {
    for (const input of st.config.input_datasets) {
      const from = writer.get(input);
      if (from !== undefined && from !== st.name) {
        addEdge(`step:${from}`, `step:${st.name}`, input);
      } else if (from === undefined) {
        const id = `dataset:${input}`;
        if (!nodes.some((n) => n.id === id)) nodes.push({ id, kind: "dataset", name: input });
        addEdge(id, `step:${st.name}`, null);
      }
    }
    for (const out of st.config.output_datasets) {
      if (read.has(out)) continue;
      const id = `dataset:${out}`;
      if (!nodes.some((n) => n.id === id)) nodes.push({ id, kind: "dataset", name: out });
      addEdge(`step:${st.name}`, id, null);
    }
  }
  return { nodes, edges: [...edges.values()] };
}

function layout(graph) {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: "LR", nodesep: 22, ranksep: 56, edgesep: 14, marginx: 8, marginy: 8 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of graph.nodes) {
    const step = n.kind === "step";
    g.setNode(n.id, {
      width: Math.max(step ? 120 : 70, textWidth(n.name) + (step ? 32 : 24)),
      height: step ? STEP_HEIGHT : DATASET_HEIGHT,
    });
  }
  for (const e of graph.edges) {
    const label = e.datasets.join(", ");
    // Giving the label a size makes dagre keep room for it, so labels overlap nothing.
    g.setEdge(e.from, e.to, label
      ? { label, width: textWidth(label, "12px system-ui") + 8, height: 16, labelpos: "c" }
      : {});
  }
  dagre.layout(g);
  return g;
}

function pathOf(points) {
  // Straight segments, with rounded joints where an edge bends.
  const [first, ...rest] = points;
  let d = `M${first.x},${first.y}`;
  for (let i = 0; i < rest.length; i++) {
    const p = rest[i];
    const next = rest[i + 1];
    if (next) {
      const mid = { x: (p.x + next.x) / 2, y: (p.y + next.y) / 2 };
      d += ` Q${p.x},${p.y} ${mid.x},${mid.y}`;
    } else {
      d += ` L${p.x},${p.y}`;
    }
  }
  return d;
}

/**
 * Draw `steps` into `container`. `onSelect(stepName)` is called when a step is clicked or
 * activated from the keyboard. Returns `{setStatuses(map), select(name)}` to recolour nodes
 * (by `data-status`) without laying the graph out again, and `setChecks(map)` to show each
 * step's check outcome as a badge on its node's corner, and `setReused(set)` to mark reused steps.
 */
export function drawDag(container, steps, { onSelect } = {}) {
  const graph = buildGraph(steps);
  const g = layout(graph);
  const { width, height } = g.graph();
  const svg = s("svg", {
    class: "dag", width: Math.ceil(width), height: Math.ceil(height),
    viewBox: `0 0 ${Math.ceil(width)} ${Math.ceil(height)}`,
    role: "group", "aria-label": "Pipeline graph",
  });
  svg.append(s("defs", {},
    s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
      s("path", { d: "M0,0 L10,5 L0,10 z", class: "arrow-head" }))));

  const edgeLayer = s("g", { class: "edges" });
  for (const e of graph.edges) {
    const info = g.edge(e.from, e.to);
    const from = g.node(e.from);
    const to = g.node(e.to);
    const el = s("g", {
      class: `edge${e.datasets.length ? "" : " io"}`,
      "data-from": from && e.from.replace(/^\w+:/, ""),
      "data-to": to && e.to.replace(/^\w+:/, ""),
      "data-datasets": e.datasets.join(","),
    }, s("path", { d: pathOf(info.points), "marker-end": "url(#arrow)" }));
    if (info.label) {
      el.append(s("rect", {
        class: "edge-label-bg", x: info.x - info.width / 2, y: info.y - info.height / 2,
        width: info.width, height: info.height, rx: 3,
      }));
      el.append(s("text", { class: "edge-label", x: info.x, y: info.y }, info.label));
    }
    edgeLayer.append(el);
  }
  svg.append(edgeLayer);

  const nodeLayer = s("g", { class: "nodes" });
  const stepNodes = new Map();
  for (const n of graph.nodes) {
    const box = g.node(n.id);
    const x = box.x - box.width / 2;
    const y = box.y - box.height / 2;
    if (n.kind === "dataset") {
      nodeLayer.append(s("g", { class: "node dataset", "data-dataset": n.name },
        s("rect", { x, y, width: box.width, height: box.height, rx: box.height / 2 }),
        s("text", { x: box.x, y: box.y }, n.name)));
      continue;
    }
    // The name sits in the middle; it moves up to make room when a status is shown.
    const label = s("text", { class: "step-name", x: box.x, y: box.y }, n.name);
    const status = s("text", { class: "step-status", x: box.x, y: box.y + 11 }, "");
    const el = s("g", {
      class: "node step", "data-step": n.name, tabindex: onSelect ? 0 : null,
      role: onSelect ? "button" : null, "aria-label": `step ${n.name}`,
    }, s("title", {}, n.name), s("rect", { x, y, width: box.width, height: box.height, rx: 6 }), label, status);
    if (onSelect) {
      el.addEventListener("click", () => onSelect(n.name));
      el.addEventListener("keydown", (ev) => {
        if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); onSelect(n.name); }
      });
    }
    stepNodes.set(n.name, { el, status, label, y: box.y, corner: { x: x + box.width, y } });
    nodeLayer.append(el);
  }
  svg.append(nodeLayer);
  container.replaceChildren(svg);

  return {
    setStatuses(statuses) {
      for (const [name, { el, status, label, y }] of stepNodes) {
        const st = statuses[name];
        if (st) el.setAttribute("data-status", st);
        else el.removeAttribute("data-status");
        status.textContent = st || "";
        label.setAttribute("y", st ? y - 7 : y);
      }
    },
    select(name) {
      for (const [step, { el }] of stepNodes) el.classList.toggle("selected", step === name);
    },
    /** `reused`: the steps Skipped because an earlier run's result was reused. Their node
     * keeps `data-status` Skipped, reads "Reused" and carries `data-reused`. */
    setReused(reused) {
      for (const [name, { el, status }] of stepNodes) {
        el.toggleAttribute("data-reused", reused.has(name));
        if (reused.has(name)) status.textContent = "Reused";
      }
    },
    /** `checks`: step name → its run step's check results. The badge says how many
     * failed (or warned, or all passed) and carries the worst outcome as `data-checks`. */
    setChecks(checks) {
      for (const [name, { el, corner }] of stepNodes) {
        el.querySelector(".check-badge")?.remove();
        const results = checks[name] || [];
        if (!results.length) continue;
        const bad = results.filter((c) => c.status === "failed" || c.status === "error");
        const warned = results.filter((c) => c.status === "warned");
        const [state, text] = bad.length ? ["failed", `${bad.length} failed`]
          : warned.length ? ["warned", `${warned.length} warned`] : ["passed", "checks ok"];
        const width = textWidth(text, "11px system-ui") + 10;
        el.append(s("g", { class: "check-badge", "data-checks": state },
          s("title", {}, results.map((c) => `check ${c.name}: ${c.status}`).join("\n")),
          s("rect", { x: corner.x - width + 4, y: corner.y - 8, width, height: 16, rx: 8 }),
          s("text", { x: corner.x - width / 2 + 4, y: corner.y }, text)));
      }
    },
  };
}
