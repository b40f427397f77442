/* Small DOM helpers shared by the views. Styles go through classes only (the page runs under a
 * Content-Security-Policy without 'unsafe-inline'). */

export const $ = (id) => document.getElementById(id);

export const SVG_NS = "http://www.w3.org/2000/svg";

/** A new element with a class and text. */
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text != null) node.textContent = text;
  return node;
}

/** A new SVG element with attributes. */
export function svg(tag, attributes = {}) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  return node;
}

/** Flash a cell green (direction > 0) or red (< 0). */
export function flash(node, direction) {
  if (!direction) return;
  node.classList.remove("flash-up", "flash-down");
  void node.offsetWidth; // restart the animation
  node.classList.add(direction > 0 ? "flash-up" : "flash-down");
}

/** Show or hide a panel's "nothing yet" line. */
export function setEmpty(id, empty) {
  $(id).hidden = !empty;
}

/** -1, 0 or 1 as the class names neg, flat, pos. */
export const trendClass = (value) => (value > 0 ? "pos" : value < 0 ? "neg" : "flat");
