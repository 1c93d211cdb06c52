// Plotly figures (application/vnd.plotly.v1+json: {data, layout}) drawn by plotly.js, which
// deploy/plotly-js.sh puts in static/vendor/ at build time (never a CDN). The script is loaded
// the first time a figure scrolls into view; where it is missing, or a figure needs what this
// page's Content-Security-Policy forbids, the caller's fallback is shown instead.
//
// plotly.js works under the page's policy (script-src 'self', style-src 'self', no eval) with
// three arrangements, all made before it loads:
// - on load it puts its CSS rules in <style id="plotly.js-style-global">, an inline style the
//   policy refuses; given an element of that id already, it inserts the rules into that one's
//   sheet instead. A real same-origin stylesheet (plotly-rules.css, empty) is that element: the
//   rules go in through the CSSOM, which the policy allows.
// - it also adds maplibre's CSS in a <style> unless an element with the id below exists. Map
//   traces need tiles from the internet and are not drawn here, so a placeholder stands in.
// - some of its elements get styles as style attributes (d3's attr("style", ...): rich text,
//   colour bars, heatmaps), which the policy refuses too; for plotly's own elements, the same
//   declarations are set through element.style (CSSOM) instead.

import { h } from "./dom.js";

const SCRIPT = "/static/vendor/plotly.min.js";
const RULES = "/static/plotly-rules.css";
const GLOBAL_STYLE_ID = "plotly.js-style-global";
// The id plotly.js 4.1.1 (the version deploy/plotly-js.sh pins) checks before adding maplibre's
// CSS; another version may check another, which the e2e tests would catch as a CSP violation.
const MAPLIBRE_STYLE_ID = "9f215cf04c5486422605d13261cb87401f4e7763b6296af81e98efbc0130da53";

// Traces drawn with WebGL code generated at run time (needs 'unsafe-eval'), or with map tiles
// and geography fetched from the internet: not drawable under this page's policy, offline.
const NOT_DRAWN = new Set([
  "splom",
  "parcoords",
  "scatter3d",
  "surface",
  "mesh3d",
  "cone",
  "streamtube",
  "volume",
  "isosurface",
  "scattergeo",
  "choropleth",
  "scattermap",
  "choroplethmap",
  "densitymap",
  "scattermapbox",
  "choroplethmapbox",
  "densitymapbox",
]);
// WebGL traces with an SVG twin that takes the same data (plotly express switches to WebGL past
// 1000 points): drawn as the twin.
const SVG_TWINS = { scattergl: "scatter", scatterpolargl: "scatterpolar" };
// The figure's own config may only choose among these: links off the page, such as "edit in
// Chart Studio", stay off.
const CONFIG_KEYS = ["displayModeBar", "scrollZoom", "staticPlot", "modeBarButtonsToRemove", "toImageButtonOptions"];

let loading = null;

/**
 * The figure's box, drawn once it is first in view; `fallback(reason)` gives what to show in its
 * place (nodes) when it cannot be drawn.
 */
export function plotlyFigure(figure, fallback) {
  const traces = Array.isArray(figure.data) ? figure.data : [];
  const refused = traces.map((t) => String(t?.type ?? "scatter")).find((type) => NOT_DRAWN.has(type));
  if (refused) {
    const reason =
      `its "${refused}" trace needs WebGL code generation or map data from the internet, ` +
      "which this page does not allow";
    return h("div", { class: "output-plotly" }, fallback(reason));
  }
  const box = h("div", { class: "plotly-figure" });
  const wrap = h("div", { class: "output-plotly" }, box);
  const observer = new IntersectionObserver(
    (entries) => {
      if (!entries.some((entry) => entry.isIntersecting)) return;
      observer.disconnect();
      draw(box, figure, traces).catch((error) => wrap.replaceChildren(...fallback(error.message)));
    },
    { rootMargin: "200px" },
  );
  observer.observe(box);
  return wrap;
}

async function draw(box, figure, traces) {
  const Plotly = await loadPlotly();
  const data = traces.map((t) => (SVG_TWINS[t?.type] ? { ...t, type: SVG_TWINS[t.type] } : t));
  const layout = { ...(isObject(figure.layout) ? figure.layout : {}) };
  if (Array.isArray(layout.images)) {
    // Pictures in the layout may only be data: URLs; anything else would be fetched.
    layout.images = layout.images.filter((image) => String(image?.source).startsWith("data:image/"));
  }
  if (Number.isFinite(layout.height) && layout.height > 0) {
    // plotly.js sizes an autosized figure to its box: the box takes the figure's own height.
    box.style.height = `${Math.min(layout.height, 2000)}px`;
  }
  const own = isObject(figure.config) ? figure.config : {};
  const config = { responsive: true, displaylogo: false };
  for (const key of CONFIG_KEYS) if (key in own) config[key] = own[key];
  await Plotly.newPlot(box, { data, layout, frames: figure.frames, config });
}

const isObject = (value) => value !== null && typeof value === "object" && !Array.isArray(value);

/** plotly.js, loaded once; rejected with the reason when it cannot be. */
export function loadPlotly() {
  loading ??= (async () => {
    const probe = await fetch(SCRIPT, { method: "HEAD", cache: "no-cache" }).catch(() => null);
    if (!probe?.ok) throw new Error("plotly.js is not installed on this server (deploy/plotly-js.sh installs it)");
    await stylesheetFor(GLOBAL_STYLE_ID, RULES);
    if (!document.getElementById(MAPLIBRE_STYLE_ID)) document.head.append(h("meta", { id: MAPLIBRE_STYLE_ID }));
    styleAttributesThroughCssom();
    await new Promise((resolve, reject) => {
      const script = h("script", { src: SCRIPT });
      script.addEventListener("load", resolve);
      script.addEventListener("error", () => reject(new Error("plotly.js could not be loaded")));
      document.head.append(script);
    });
    if (!window.Plotly?.newPlot) throw new Error("plotly.js did not start");
    return window.Plotly;
  })();
  return loading;
}

function stylesheetFor(id, href) {
  return new Promise((resolve, reject) => {
    const link = h("link", { rel: "stylesheet", id, href });
    link.addEventListener("load", resolve);
    link.addEventListener("error", () => reject(new Error("plotly's stylesheet could not be loaded")));
    document.head.append(link);
  });
}

function styleAttributesThroughCssom() {
  const setAttribute = Element.prototype.setAttribute;
  Element.prototype.setAttribute = function (name, value) {
    if (name === "style" && this.closest?.(".js-plotly-plot, #js-plotly-tester")) {
      this.style.cssText = String(value);
      return;
    }
    setAttribute.call(this, name, value);
  };
}
