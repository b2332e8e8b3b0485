// Every user-visible string of the operator's fleet page, French first, and the formatting of
// times in each cabin's own time zone. The machinery (language, t, bindText, applyI18n) is the
// console's: these strings are added to its table.

import { addStrings, getLanguage, t } from "/console/i18n.js";

const CHECKS_FR = {
  instrument: "Appareil de mesure", camera: "Caméra", microphone: "Microphone", speaker: "Haut-parleur",
  printer: "Imprimante", disk: "Disque", clock: "Horloge", hub: "Serveur central", turn: "Relais TURN",
  database: "Base de données",
};
const CHECKS_EN = {
  instrument: "Instrument", camera: "Camera", microphone: "Microphone", speaker: "Speaker",
  printer: "Printer", disk: "Disk", clock: "Clock", hub: "Hub", turn: "TURN relay", database: "Database",
};
const KINDS_FR = {
  fall: "Chute", stillness: "Immobilité prolongée", absence: "Patient parti", call_for_help: "Appel à l'aide",
  dangerous_vitals: "Mesure dangereuse", panic_button: "Bouton d'alerte", device: "Appareil en panne",
  printer: "Imprimante arrêtée", cabin_offline: "Cabine hors ligne", selftest_failed: "Autotest en échec",
};
const KINDS_EN = {
  fall: "Fall", stillness: "No movement", absence: "Patient left", call_for_help: "Call for help",
  dangerous_vitals: "Dangerous reading", panic_button: "Alert button", device: "Device out of order",
  printer: "Printer stopped", cabin_offline: "Cabin offline", selftest_failed: "Self-test failed",
};

function prefixed(prefix, table) {
  return Object.fromEntries(Object.entries(table).map(([k, v]) => [`${prefix}.${k}`, v]));
}

const STRINGS = {
  fr: {
    "app.title": "Flotte des cabines",
    "app.short": "Flotte des cabines",
    "app.skip": "Aller au contenu",
    "lang.toggle": "English",
    "login.title": "Connexion exploitation",
    "login.lead": "Exploitant de la flotte : connectez-vous pour voir l'état de toutes les cabines.",
    "login.username": "Identifiant",
    "login.password": "Mot de passe",
    "login.submit": "Se connecter",
    "login.busy": "Connexion…",
    "login.error.credentials": "Identifiant ou mot de passe incorrect.",
    "login.error.locked": "Compte verrouillé après plusieurs essais : réessayez dans {minutes} min.",
    "login.error.rate": "Trop de tentatives depuis cet appareil : réessayez dans {seconds} s.",
    "login.error.network": "Le serveur ne répond pas. Vérifiez la connexion puis réessayez.",
    "login.error.server": "Le serveur a refusé la connexion ({status}).",
    "login.error.missing": "Saisissez votre identifiant et votre mot de passe.",
    "refused.text": "Cette page est réservée à l'exploitant de la flotte. Les médecins ont leur console, les agents leur page d'alertes.",
    "logout": "Se déconnecter",
    "session.expired": "Votre session a expiré : reconnectez-vous.",
    "table.caption": "Les cabines, les problèmes d'abord",
    "col.cabin": "Cabine",
    "col.state": "État",
    "col.version": "Version",
    "col.selftest": "Dernier autotest",
    "col.devices": "Appareils",
    "col.printer": "Imprimante",
    "col.alerts": "Alertes",
    "col.consultations": "Consultations",
    "col.quality": "Qualité d'appel",
    "col.details": "Détails",
    "fleet.empty": "Aucune cabine n'est enregistrée sur ce serveur.",
    "fleet.counts": "{total} cabine(s) : {online} en ligne, {offline} hors ligne, {problems} avec un problème",
    "fleet.rule": "Hors ligne : sans nouvelles depuis plus de {min} min. Ses agents et vous êtes alertés, et la réservation la montre « temporairement indisponible ».",
    "fleet.error": "Impossible d'actualiser ({status}) : les données affichées datent de {time}.",
    "refresh.at": "Mis à jour à {time}",
    "refresh.stale": "Pas de mise à jour depuis {time}",
    "state.online": "En ligne",
    "state.offline": "Hors ligne",
    "state.never_seen": "Jamais connectée",
    "state.seen": "vue : {time}",
    "state.unavailable": "Indisponible à la réservation",
    "selftest.none": "Aucun reçu",
    "selftest.passed": "Réussi ({passed}/{checks})",
    "selftest.failed": "{n} échec(s)",
    "selftest.warnings": "{n} avertissement(s)",
    "selftest.blocking": "bloque les consultations",
    "selftest.when": "{trigger}, {time}",
    "trigger.start": "au démarrage",
    "trigger.nightly": "de nuit",
    "trigger.agent": "demandé par l'agent",
    "devices.none": "Aucun",
    "device.disconnected": "déconnecté",
    "device.battery": "batterie {pct} %",
    "device.battery_low": "batterie faible {pct} %",
    "paper.ok": "Papier : ok",
    "paper.low": "Papier : bientôt vide",
    "paper.out": "Papier : vide",
    "paper.unknown": "Papier : inconnu",
    "printer.paper_low": "papier bas",
    "printer.out_of_paper": "plus de papier",
    "printer.paper_jam": "bourrage",
    "printer.offline": "hors ligne",
    "printer.other": "arrêtée",
    "alerts.none": "Aucune",
    "alerts.count": "{n} ouverte(s)",
    "consult.today": "{n} aujourd'hui",
    "consult.week": "{n} cette semaine",
    "quality.none": "Aucun appel cette semaine",
    "quality.sample": "↑ {sent} / ↓ {received} kbit/s · perte {loss} % · aller-retour {rtt}",
    "quality.rtt": "{ms} ms",
    "quality.rtt_unknown": "inconnu",
    "quality.last": "Dernier appel ({time})",
    "quality.median": "Médiane de la semaine ({calls} appel(s))",
    "details.show": "Détails de {cabin}",
    "detail.selftest": "Autotest",
    "detail.devices": "Appareils et batteries",
    "detail.printer": "Imprimante et papier",
    "detail.alerts": "Alertes ouvertes",
    "detail.general": "Cabine",
    "detail.quality": "Qualité d'appel",
    "detail.version": "Version",
    "detail.last_seen": "Dernier signe de vie",
    "detail.status_at": "Dernier état reçu",
    "detail.disk": "Disque libre",
    "detail.disk_mb": "{mb} Mo",
    "detail.hub_unreachable": "Sans serveur depuis",
    "detail.timezone": "Fuseau horaire",
    "detail.consultations": "Consultations",
    "detail.report": "Rapport {id}",
    "detail.no_problem": "Tous les contrôles ont réussi.",
    "detail.unknown": "—",
    "detail.bookings_kept": "Indisponible à la réservation : aucun nouveau rendez-vous n'est pris pour elle ; ceux déjà pris ne sont pas annulés automatiquement.",
    "outcome.failed": "échec",
    "outcome.warning": "avertissement",
    ...prefixed("check", CHECKS_FR),
    ...prefixed("kind", KINDS_FR),
  },
  en: {
    "app.title": "Cabin fleet",
    "app.short": "Cabin fleet",
    "app.skip": "Skip to content",
    "lang.toggle": "Français",
    "login.title": "Operator sign-in",
    "login.lead": "Fleet operator: sign in to see the state of every cabin.",
    "login.username": "Username",
    "login.password": "Password",
    "login.submit": "Sign in",
    "login.busy": "Signing in…",
    "login.error.credentials": "Wrong username or password.",
    "login.error.locked": "Account locked after several tries: try again in {minutes} min.",
    "login.error.rate": "Too many tries from this device: try again in {seconds} s.",
    "login.error.network": "The server does not answer. Check the connection and try again.",
    "login.error.server": "The server refused the sign-in ({status}).",
    "login.error.missing": "Type your username and your password.",
    "refused.text": "This page is for the fleet's operator. Doctors have their console, agents their alert page.",
    "logout": "Sign out",
    "session.expired": "Your session has expired: sign in again.",
    "table.caption": "The cabins, problems first",
    "col.cabin": "Cabin",
    "col.state": "State",
    "col.version": "Version",
    "col.selftest": "Last self-test",
    "col.devices": "Devices",
    "col.printer": "Printer",
    "col.alerts": "Alerts",
    "col.consultations": "Consultations",
    "col.quality": "Call quality",
    "col.details": "Details",
    "fleet.empty": "No cabin is registered on this hub.",
    "fleet.counts": "{total} cabin(s): {online} online, {offline} offline, {problems} with a problem",
    "fleet.rule": "Offline: not heard from for more than {min} min. Its agents and you are alerted, and booking shows it as \"temporarily unavailable\".",
    "fleet.error": "Could not refresh ({status}): the data shown is from {time}.",
    "refresh.at": "Updated at {time}",
    "refresh.stale": "Not updated since {time}",
    "state.online": "Online",
    "state.offline": "Offline",
    "state.never_seen": "Never connected",
    "state.seen": "seen: {time}",
    "state.unavailable": "Not bookable",
    "selftest.none": "None received",
    "selftest.passed": "Passed ({passed}/{checks})",
    "selftest.failed": "{n} failed",
    "selftest.warnings": "{n} warning(s)",
    "selftest.blocking": "stops consultations",
    "selftest.when": "{trigger}, {time}",
    "trigger.start": "at start",
    "trigger.nightly": "nightly",
    "trigger.agent": "asked by the agent",
    "devices.none": "None",
    "device.disconnected": "disconnected",
    "device.battery": "battery {pct} %",
    "device.battery_low": "battery low {pct} %",
    "paper.ok": "Paper: ok",
    "paper.low": "Paper: running low",
    "paper.out": "Paper: out",
    "paper.unknown": "Paper: unknown",
    "printer.paper_low": "paper low",
    "printer.out_of_paper": "out of paper",
    "printer.paper_jam": "paper jam",
    "printer.offline": "offline",
    "printer.other": "stopped",
    "alerts.none": "None",
    "alerts.count": "{n} open",
    "consult.today": "{n} today",
    "consult.week": "{n} this week",
    "quality.none": "No call this week",
    "quality.sample": "↑ {sent} / ↓ {received} kbit/s · loss {loss} % · round trip {rtt}",
    "quality.rtt": "{ms} ms",
    "quality.rtt_unknown": "unknown",
    "quality.last": "Last call ({time})",
    "quality.median": "Week's median ({calls} call(s))",
    "details.show": "Details of {cabin}",
    "detail.selftest": "Self-test",
    "detail.devices": "Devices and batteries",
    "detail.printer": "Printer and paper",
    "detail.alerts": "Open alerts",
    "detail.general": "Cabin",
    "detail.quality": "Call quality",
    "detail.version": "Version",
    "detail.last_seen": "Last sign of life",
    "detail.status_at": "Last status received",
    "detail.disk": "Free disk",
    "detail.disk_mb": "{mb} MB",
    "detail.hub_unreachable": "Without the hub since",
    "detail.timezone": "Time zone",
    "detail.consultations": "Consultations",
    "detail.report": "Report {id}",
    "detail.no_problem": "Every check passed.",
    "detail.unknown": "—",
    "detail.bookings_kept": "Not bookable: no new appointment is taken for it; those already booked are not cancelled automatically.",
    "outcome.failed": "failed",
    "outcome.warning": "warning",
    ...prefixed("check", CHECKS_EN),
    ...prefixed("kind", KINDS_EN),
  },
};

addStrings(STRINGS);

export {
  applyI18n, bindText, getLanguage, initLanguage, onLanguageChange, setLanguage, t,
} from "/console/i18n.js";

function locale() {
  return getLanguage() === "fr" ? "fr-FR" : "en-GB";
}

/** A time of day in the cabin's zone (its date too when it is not today there). */
export function formatIn(iso, timeZone) {
  if (!iso) return t("detail.unknown");
  const date = new Date(iso);
  const zone = timeZone || undefined;
  const day = (d) => new Intl.DateTimeFormat("en-CA", { timeZone: zone, dateStyle: "short" }).format(d);
  const options = day(date) === day(new Date())
    ? { timeZone: zone, hour: "2-digit", minute: "2-digit" }
    : { timeZone: zone, day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" };
  return new Intl.DateTimeFormat(locale(), options).format(date);
}

export function formatClock(date) {
  return new Intl.DateTimeFormat(locale(), { hour: "2-digit", minute: "2-digit", second: "2-digit" }).format(date);
}

export function formatNumber(value, digits = 0) {
  return new Intl.NumberFormat(locale(), { maximumFractionDigits: digits }).format(value);
}
