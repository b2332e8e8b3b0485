// A refused request, in words for the coordinator: the hub's own words in the page's language
// (the booking desk says why in French and English), and for a rota change each conflict
// explained (which doctor, which cabin, when, how many booked patients).

import { ApiError } from "./api.js";
import { h, replaceChildren } from "/console/dom.js";
import { getLanguage, t } from "./i18n.js";

export function refusalText(error) {
  if (!(error instanceof ApiError)) return { text: t("error.network"), conflicts: [] };
  const body = error.body ?? {};
  const lang = getLanguage();
  const conflicts = Array.isArray(body.conflicts)
    ? body.conflicts.map((conflict) => conflict[lang] ?? conflict.fr ?? String(conflict))
    : [];
  const words = body[lang] ?? body.fr;
  if (words) return { text: words, conflicts };
  return { text: t("error.server", { status: error.status, text: body.error ?? "" }), conflicts };
}

/** Show `error` in `box`: its text in `textElement`, its conflicts as items of `list`. */
export function showRefusal(box, textElement, list, error) {
  const { text, conflicts } = refusalText(error);
  textElement.textContent = text;
  if (list) replaceChildren(list, ...conflicts.map((line) => h("li", { text: line, data: { testid: "conflict" } })));
  box.hidden = false;
}
