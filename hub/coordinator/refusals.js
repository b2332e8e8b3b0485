// A refused request, in words for the coordinator: the hub's reason, and for a rota conflict
// the hub's explanation of each conflict (which doctor, which cabin, when, which patients).

import { ApiError } from "./api.js";
import { h, replaceChildren } from "/console/dom.js";
import { t } from "./i18n.js";

export function refusalText(error) {
  if (!(error instanceof ApiError)) return { text: t("error.network"), conflicts: [] };
  const body = error.body ?? {};
  const conflicts = Array.isArray(body.conflicts) ? body.conflicts : [];
  if (body.reason === "slot_taken") return { text: t("error.slot_taken"), conflicts };
  if (body.reason === "conflict") return { text: t("error.conflict"), conflicts };
  return { text: t("error.server", { status: error.status, text: body.error ?? "" }), conflicts };
}

/** Show `error` in `box`: its text in `textElement`, its conflicts as items of `list`. */
export function showRefusal(box, textElement, list, error) {
  const { text, conflicts } = refusalText(error);
  textElement.textContent = text;
  if (list) replaceChildren(list, ...conflicts.map((line) => h("li", { text: line })));
  box.hidden = false;
}
