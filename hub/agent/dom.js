// Building DOM nodes from data without ever parsing data as HTML (a copy of the console's dom.js,
// bound to the agents' page's own strings): text goes to textContent, attributes to setAttribute.

import { bindAttr, bindText } from "./i18n.js";

const SVG_NS = "http://www.w3.org/2000/svg";

/**
 * h("button", {id, class, text, i18n, args, attrs, data, on}, ...children)
 * - text: literal text (data); i18n + args: a translated label kept in step with the language
 * - attrs: plain attributes; data: data-* attributes; on: event listeners
 * - children: nodes or strings (strings become text nodes), null/false skipped
 */
export function h(tag, options = {}, ...children) {
  return build(document.createElement(tag), options, children);
}

/** The same for SVG elements. */
export function svg(tag, options = {}, ...children) {
  return build(document.createElementNS(SVG_NS, tag), options, children);
}

function build(element, options, children) {
  const { id, text, i18n, args, attrs, data, on, ariaLabel } = options;
  if (id) element.id = id;
  if (options.class) element.setAttribute("class", options.class);
  if (attrs) {
    for (const [name, value] of Object.entries(attrs)) {
      if (value === false || value === null || value === undefined) continue;
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
  if (data) {
    for (const [name, value] of Object.entries(data)) {
      if (value !== null && value !== undefined) element.dataset[name] = String(value);
    }
  }
  if (ariaLabel) bindAttr(element, "aria-label", ariaLabel[0], ariaLabel[1]);
  if (i18n) bindText(element, i18n, args);
  else if (text !== undefined && text !== null) element.textContent = String(text);
  if (on) {
    for (const [event, listener] of Object.entries(on)) element.addEventListener(event, listener);
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
}

/** Remove every child of `element`. */
export function clear(element) {
  while (element.firstChild) element.firstChild.remove();
}

/** Replace the children of `element` with `children`. */
export function replaceChildren(element, ...children) {
  clear(element);
  append(element, children);
}
