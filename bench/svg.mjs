// A small horizontal bar chart as a standalone SVG document (no dependencies).
//
//   barChart({ title, unit, subtitle, bars: [{ label, value, note, highlight }] })
//
// Bars are scaled to the largest value; each carries its value (and an
// optional note such as "1.62x" or "failed") at its end. A bar whose value is
// null is drawn as an empty row with its note, so a skipped or failed entry
// stays visible instead of disappearing.

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** 1234567 -> "1.23M", 0.5 -> "0.50" */
export function human(v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return '-';
  const a = Math.abs(v);
  if (a >= 1e9) return `${(v / 1e9).toFixed(2)}G`;
  if (a >= 1e6) return `${(v / 1e6).toFixed(2)}M`;
  if (a >= 1e4) return `${(v / 1e3).toFixed(1)}k`;
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

export function barChart({ title, subtitle = '', unit = '', bars }) {
  const width = 760;
  const labelW = 190;
  const valueW = 170;
  const barH = 26;
  const gap = 10;
  const top = subtitle ? 64 : 48;
  const plotW = width - labelW - valueW - 20;
  const height = top + bars.length * (barH + gap) + 24;
  const max = Math.max(1e-12, ...bars.map((b) => (Number.isFinite(b.value) ? b.value : 0)));
  const out = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="13">`);
  out.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  out.push(`<text x="12" y="24" font-size="16" font-weight="bold" fill="#222">${esc(title)}</text>`);
  if (subtitle) out.push(`<text x="12" y="44" fill="#555">${esc(subtitle)}</text>`);
  // light vertical grid at quarters of the scale
  for (let q = 1; q <= 4; q++) {
    const x = labelW + (plotW * q) / 4;
    out.push(`<line x1="${x}" y1="${top - 6}" x2="${x}" y2="${height - 18}" stroke="#eee"/>`);
    out.push(`<text x="${x}" y="${height - 6}" fill="#999" font-size="10" text-anchor="middle">${esc(human((max * q) / 4))}</text>`);
  }
  bars.forEach((b, i) => {
    const y = top + i * (barH + gap);
    const ok = Number.isFinite(b.value);
    const w = ok ? Math.max(1, (plotW * b.value) / max) : 0;
    const fill = b.highlight ? '#d9480f' : '#4c6ef5';
    out.push(`<text x="${labelW - 8}" y="${y + barH / 2 + 4}" text-anchor="end" fill="#222">${esc(b.label)}</text>`);
    if (ok) out.push(`<rect x="${labelW}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${fill}" rx="2"/>`);
    else out.push(`<rect x="${labelW}" y="${y}" width="${plotW}" height="${barH}" fill="none" stroke="#ccc" stroke-dasharray="4 3"/>`);
    const text = `${ok ? human(b.value) : '-'}${unit && ok ? ` ${unit}` : ''}${b.note ? `  ${b.note}` : ''}`;
    out.push(`<text x="${(labelW + (ok ? w : 0) + 6).toFixed(1)}" y="${y + barH / 2 + 4}" fill="#222">${esc(text)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
