// Shot plans in the studio: draw a path for the first object before generating, and see the plan a
// video was rendered from (each object's box at frame 0 and its track) over its first frame.

const COLORS = { red: "#d72626", orange: "#f58719", yellow: "#f0d723", green: "#28b946", blue: "#2855e1", purple: "#9137cd", white: "#f2f2f2" };

/** A pad to drag a path on: `el` to place, `path()` the 'x,y x,y ...' string (null under two points). */
export function pathPad(size, onChange = () => {}) {
  const [w, h] = size.split("x").map(Number);
  const scale = 256 / Math.max(w, h);
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(w * scale); canvas.height = Math.round(h * scale);
  canvas.className = "path-pad";
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", "Path pad: drag to draw the path the first object follows");
  canvas.dataset.points = "0";
  let points = [];
  let drawing = false;
  const at = (ev) => {
    const r = canvas.getBoundingClientRect();
    const x = Math.min(1, Math.max(0, (ev.clientX - r.left) / r.width));
    const y = Math.min(1, Math.max(0, (ev.clientY - r.top) / r.height));
    return [Math.round(x * 1000) / 1000, Math.round(y * 1000) / 1000];
  };
  const draw = () => {
    const g = canvas.getContext("2d");
    g.fillStyle = "#333"; g.fillRect(0, 0, canvas.width, canvas.height);
    g.strokeStyle = "#555"; g.lineWidth = 1;
    for (let i = 1; i < 4; i++) {
      g.beginPath(); g.moveTo((i * canvas.width) / 4, 0); g.lineTo((i * canvas.width) / 4, canvas.height); g.stroke();
      g.beginPath(); g.moveTo(0, (i * canvas.height) / 4); g.lineTo(canvas.width, (i * canvas.height) / 4); g.stroke();
    }
    if (!points.length) return;
    g.strokeStyle = "#ffd24a"; g.lineWidth = 3; g.beginPath();
    points.forEach(([x, y], i) => (i ? g.lineTo(x * canvas.width, y * canvas.height) : g.moveTo(x * canvas.width, y * canvas.height)));
    g.stroke();
    const [sx, sy] = points[0];
    g.fillStyle = "#ffd24a"; g.beginPath(); g.arc(sx * canvas.width, sy * canvas.height, 5, 0, 2 * Math.PI); g.fill();
  };
  canvas.addEventListener("pointerdown", (ev) => { drawing = true; points = [at(ev)]; canvas.setPointerCapture(ev.pointerId); draw(); });
  canvas.addEventListener("pointermove", (ev) => {
    if (!drawing) return;
    const p = at(ev), q = points[points.length - 1];
    if (Math.hypot(p[0] - q[0], p[1] - q[1]) >= 0.02) { points.push(p); draw(); }
  });
  const end = () => { if (drawing) { drawing = false; canvas.dataset.points = String(points.length); onChange(); } };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
  draw();
  return {
    el: canvas,
    clear() { points = []; canvas.dataset.points = "0"; draw(); onChange(); },
    path() {
      if (points.length < 2) return null;
      const step = Math.max(1, Math.ceil(points.length / 64));  // at most ~64 points
      const kept = points.filter((_, i) => i % step === 0 || i === points.length - 1);
      return kept.map(([x, y]) => `${x},${y}`).join(" ");
    },
  };
}

/** The plan over a video's first frame: each object's box at frame 0 and its track. */
export async function planOverlay(plan, imageUrl, width, height) {
  const canvas = document.createElement("canvas");
  const scale = 320 / Math.max(width, height);
  canvas.width = Math.round(width * scale); canvas.height = Math.round(height * scale);
  canvas.className = "plan-overlay";
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", `Shot plan: ${plan.objects.map((o) => o.phrase).join("; ")}`);
  canvas.dataset.objects = String(plan.objects.length);
  const g = canvas.getContext("2d");
  if (imageUrl) {
    const img = new Image();
    img.src = imageUrl;
    try { await img.decode(); g.drawImage(img, 0, 0, canvas.width, canvas.height); } catch { /* boxes alone */ }
  }
  for (const o of plan.objects) {
    const c = COLORS[o.color] || "#fff";
    g.strokeStyle = c; g.lineWidth = 2; g.setLineDash([4, 3]); g.beginPath();
    o.boxes.forEach(([x, y], i) => (i ? g.lineTo(x * canvas.width, y * canvas.height) : g.moveTo(x * canvas.width, y * canvas.height)));
    g.stroke(); g.setLineDash([]);
    const [x, y, s] = o.boxes[0];
    const side = 2 * s * canvas.height;
    g.lineWidth = 2; g.strokeRect(x * canvas.width - side / 2, y * canvas.height - side / 2, side, side);
    g.fillStyle = "rgba(0,0,0,0.6)"; g.fillRect(x * canvas.width - side / 2, y * canvas.height - side / 2 - 14, Math.min(canvas.width, 7 * o.phrase.length), 14);
    g.fillStyle = "#fff"; g.font = "11px sans-serif"; g.fillText(o.phrase, x * canvas.width - side / 2 + 2, y * canvas.height - side / 2 - 3);
  }
  return canvas;
}
