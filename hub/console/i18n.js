// Every user-visible string of the console, French first, and the formatting of dates and numbers.
// Elements built with a `data-i18n` key (and optional JSON `data-i18n-args`) are re-labelled by
// applyI18n() when the doctor switches language; views that render from state re-render instead.

const STRINGS = {
  fr: {
    "app.title": "Console médecin — Cabine de téléconsultation",
    "app.short": "Console médecin",
    "app.skip": "Aller au contenu",
    "lang.toggle": "English",
    "login.title": "Connexion",
    "login.username": "Identifiant",
    "login.password": "Mot de passe",
    "login.submit": "Se connecter",
    "login.busy": "Connexion…",
    "login.error.credentials": "Identifiant ou mot de passe incorrect.",
    "login.error.locked": "Compte verrouillé après plusieurs essais : réessayez dans {minutes} min.",
    "login.error.rate": "Trop de tentatives depuis ce poste : réessayez dans {seconds} s.",
    "login.error.network": "Le serveur ne répond pas. Vérifiez la connexion puis réessayez.",
    "login.error.server": "Le serveur a refusé la connexion ({status}).",
    "login.error.missing": "Saisissez votre identifiant et votre mot de passe.",
    "logout": "Se déconnecter",
    "session.expired": "Votre session a expiré : reconnectez-vous.",
    "login.totp.code": "Code à 6 chiffres de l'application",
    "login.totp.enrol.intro":
      "Une validation en deux étapes est demandée pour ce compte. Ajoutez-le à une application d'authentification (FreeOTP, Aegis…) avec cette clé, puis saisissez le code qu'elle affiche.",
    "login.totp.enrol.key": "Clé :",
    "login.totp.enrol.link": "Ouvrir dans l'application (sur le téléphone)",
    "login.totp.asked": "Saisissez le code affiché par votre application d'authentification.",
    "login.totp.wrong": "Identifiant, mot de passe ou code incorrect.",
    "login.totp.enrol.wrong": "Ce code ne correspond pas à la clé : vérifiez la clé saisie dans l'application.",
    "login.error.busy": "Le serveur est très sollicité : réessayez dans un instant.",
    "account.password.open": "Mot de passe",
    "account.password.title": "Changer de mot de passe",
    "account.password.current": "Mot de passe actuel",
    "account.password.new": "Nouveau mot de passe (12 caractères au moins)",
    "account.password.confirm": "Nouveau mot de passe, à nouveau",
    "account.password.submit": "Changer le mot de passe",
    "account.password.close": "Fermer",
    "account.password.done": "Mot de passe changé. Vos autres sessions sont fermées.",
    "account.password.mismatch": "Les deux nouveaux mots de passe diffèrent.",
    "account.password.short": "Le nouveau mot de passe doit avoir 12 caractères au moins.",
    "account.password.wrong": "Le mot de passe actuel est incorrect.",
    "account.password.locked": "Trop d'essais : réessayez dans {minutes} min.",
    "account.password.failed": "Le mot de passe n'a pas pu être changé ({status}).",
    "ws.lost": "Connexion au serveur perdue, reconnexion…",
    "ws.connecting": "Connexion au serveur…",
    "ws.reconnecting": "Reconnexion au serveur…",
    "waiting.title": "Salle d'attente",
    "waiting.empty": "Aucun patient en attente.",
    "waiting.count": "{n} patient(s) en attente",
    "waiting.accept": "Prendre en charge",
    "waiting.accepting": "Prise en charge…",
    "waiting.taken": "Pris en charge par {doctor}",
    "waiting.offline": "Cabine hors ligne — reconnexion en attente",
    "waiting.wait": "Attente",
    "waiting.reason.none": "Motif non précisé",
    "waiting.cabin": "Cabine",
    "waiting.vitals": "Constantes :",
    "waiting.vitals.none": "aucune mesure",
    "waiting.conflict": "Un autre médecin a pris ce patient en charge juste avant vous.",
    "waiting.unavailable": "La cabine de ce patient est momentanément déconnectée : réessayez dans un instant.",
    "waiting.gone": "Ce patient n'est plus en salle d'attente.",
    "waiting.ended.reason": "Consultation terminée : {reason}.",
    "waiting.booked": "Rendez-vous à {time}",
    "waiting.booked.you": "Rendez-vous avec vous à {time}",
    "waiting.booked.other": "Rendez-vous avec {doctor} à {time}",
    "waiting.booked.first": "Ce patient a rendez-vous avec un autre médecin, à qui il est proposé d'abord : réessayez dans quelques minutes.",
    "age.years": "{n} ans",
    "age.unknown": "âge inconnu",
    "sex.female": "Femme",
    "sex.male": "Homme",
    "sex.other": "Autre",
    "sex.unknown": "Sexe non renseigné",
    "language.fr": "Français",
    "language.en": "Anglais",
    "duration.s": "{s} s",
    "duration.ms": "{m} min {s} s",
    "duration.hm": "{h} h {m} min",
    "call.born.female": "née le {date}",
    "call.born.male": "né le {date}",
    "call.born.other": "né(e) le {date}",
    "call.reason": "Motif :",
    "call.state.label": "Appel",
    "call.state.waiting-offer": "en attente de la cabine…",
    "call.state.connecting": "connexion…",
    "call.state.connected": "en cours",
    "call.state.reconnecting": "reconnexion…",
    "call.state.ended": "terminé",
    "link.label": "Liaison cabine",
    "link.state.connecting": "en attente",
    "link.state.connected": "active",
    "link.state.reconnecting": "Reconnexion…",
    "link.overlay": "Reconnexion à la cabine…",
    "link.overlay.detail": "La liaison est coupée ; elle reprendra d'elle-même.",
    "quality.label": "Qualité",
    "quality.good": "bonne",
    "quality.medium": "moyenne",
    "quality.poor": "faible",
    "quality.unknown": "—",
    "quality.details": "Vidéo {kbps} kbit/s · {fps} img/s · aller-retour {rtt} ms · pertes {loss} %",
    "video.remote": "Vidéo du patient",
    "video.local": "Votre caméra",
    "video.nocamera": "Caméra ou micro indisponible : le patient ne vous voit pas.",
    "video.unmute": "Activer le son du patient",
    "video.waiting": "En attente de la vidéo de la cabine…",
    "controls.mic.mute": "Couper le micro",
    "controls.mic.unmute": "Rétablir le micro",
    "controls.cam.off": "Couper la caméra",
    "controls.cam.on": "Rétablir la caméra",
    "controls.hangup": "Raccrocher",
    "measure.title": "Demander une mesure",
    "measure.blood_pressure": "Tension",
    "measure.temperature": "Température",
    "measure.spo2": "SpO2 / pouls",
    "measure.requested": "demandé…",
    "measure.nolink": "Liaison avec la cabine indisponible : demande non envoyée.",
    "vitals.title": "Constantes",
    "vitals.systolic_mmhg": "Systolique",
    "vitals.diastolic_mmhg": "Diastolique",
    "vitals.blood_pressure": "Tension artérielle",
    "vitals.pulse_bpm": "Pouls",
    "vitals.temperature_c": "Température",
    "vitals.spo2_percent": "SpO2",
    "vitals.none": "non mesuré",
    "vitals.range": "normale {low}–{high} {unit}",
    "vitals.high": "▲ élevé",
    "vitals.low": "▼ bas",
    "vitals.ok": "✓ normal",
    "vitals.at": "à {time}",
    "vitals.chart": "Évolution pendant la consultation : {label}",
    "vitals.count": "{n} mesure(s)",
    "history.title": "Consultations antérieures",
    "history.loading": "Chargement…",
    "history.empty": "Aucune consultation antérieure",
    "history.error": "Historique indisponible ({status}).",
    "history.doctor.unknown": "médecin non renseigné",
    "history.reason": "Motif",
    "history.vitals": "Constantes",
    "history.notes": "Notes",
    "history.notes.none": "aucune note",
    "history.advice": "Conseils donnés au patient",
    "history.prescriptions": "Ordonnances",
    "history.prescription": "Ordonnance {id} du {date}",
    "history.cabin": "cabine {cabin}",
    "history.unverified": "déclaré par la cabine, non vérifié",
    "history.doctor.none": "aucun médecin vérifié",
    "history.prescription.verified": "signée par le hub",
    "history.prescription.unverified": "déclarée par la cabine, non vérifiée",
    "notes.title": "Notes de consultation",
    "notes.label": "Notes (visibles des médecins suivants)",
    "advice.label": "Conseils pour le patient (imprimés sur son compte rendu)",
    "notes.saving": "enregistrement…",
    "notes.saved": "enregistré à {time}",
    "notes.unsaved": "non enregistré",
    "presc.title": "Ordonnance",
    "presc.line": "Ligne {n}",
    "presc.drug": "Médicament",
    "presc.dose": "Dose",
    "presc.frequency": "Fréquence",
    "presc.duration": "Durée",
    "presc.instructions": "Consignes",
    "presc.renewals": "Renouvellements",
    "presc.add": "Ajouter une ligne",
    "presc.remove": "Retirer la ligne {n}",
    "presc.send": "Envoyer l'ordonnance",
    "presc.sending": "Envoi…",
    "presc.required": "Champ obligatoire",
    "presc.renewals.invalid": "Entre 0 et 12",
    "presc.invalid": "Complétez les champs signalés avant l'envoi.",
    "presc.sent": "Ordonnance n° {id} envoyée à {time}",
    "presc.delivered": "reçue par la cabine",
    "presc.pending": "en attente de la cabine…",
    "presc.renewals.n": "{n} renouvellement(s)",
    "presc.max": "20 lignes au plus.",
    "error.hub": "Le serveur signale : {text}",
    "alert.kind.fall": "Chute",
    "alert.kind.stillness": "Immobilité prolongée",
    "alert.kind.absence": "Patient parti de la cabine",
    "alert.kind.call_for_help": "Appel à l'aide",
    "alert.kind.dangerous_vitals": "Mesure dangereuse",
    "alert.kind.panic_button": "Bouton d'alerte",
    "alert.kind.device": "Appareil en panne",
    "alert.kind.printer": "Imprimante arrêtée",
    "alert.console.raised": "à {time}",
    "alert.console.repeats": "signalée {count} fois",
    "alert.console.call": "Appelez le {number}",
    "alert.console.escalated": "Personne n'a pris en charge cette alerte : vous êtes le médecin prévenu.",
    "alert.console.take": "Je prends en charge",
    "alert.console.taking": "Envoi…",
    "alert.console.offline": "Pas de connexion au serveur : l'alerte n'a pas pu être prise en charge.",
    "alert.handled.by": "Prise en charge par {who} à {time}",
    "alert.handled.false": "Fausse alerte signalée par {who} à {time}",
    "error.code.malformed": "message refusé par le serveur",
    "error.code.unknown_message": "message inconnu du serveur",
    "error.code.unauthorized": "action non autorisée",
    "error.code.not_found": "consultation introuvable",
    "error.code.conflict": "déjà pris en charge",
    "error.code.rate_limited": "trop de demandes",
    "error.code.unavailable": "service momentanément indisponible",
    "error.code.internal": "erreur interne du serveur",
    "error.code.unsupported_protocol": "version de protocole non prise en charge",
    "error.code.invalid_signature": "signature invalide",
    "error.dismiss": "Fermer",
    "unit.mmhg": "mmHg",
    "unit.celsius": "°C",
    "unit.percent": "%",
    "unit.per_min": "/min",
    "reason.completed": "raccrochée",
    "reason.patient_left": "le patient a quitté la cabine",
    "reason.doctor_left": "le médecin a quitté",
    "reason.connection_lost": "liaison perdue",
    "reason.timeout": "délai dépassé",
    "reason.alert": "alerte dans la cabine",
  },
  en: {
    "app.title": "Doctor's console — Teleconsultation cabin",
    "app.short": "Doctor's console",
    "app.skip": "Skip to content",
    "lang.toggle": "Français",
    "login.title": "Sign in",
    "login.username": "Username",
    "login.password": "Password",
    "login.submit": "Sign in",
    "login.busy": "Signing in…",
    "login.error.credentials": "Wrong username or password.",
    "login.error.locked": "Account locked after several attempts: try again in {minutes} min.",
    "login.error.rate": "Too many attempts from this computer: try again in {seconds} s.",
    "login.error.network": "The server does not answer. Check the connection and try again.",
    "login.error.server": "The server refused to sign you in ({status}).",
    "login.error.missing": "Enter your username and password.",
    "logout": "Sign out",
    "session.expired": "Your session has expired: please sign in again.",
    "login.totp.code": "6-digit code from the app",
    "login.totp.enrol.intro":
      "Two-step verification is required for this account. Add it to an authenticator app (FreeOTP, Aegis…) with this key, then type the code it shows.",
    "login.totp.enrol.key": "Key:",
    "login.totp.enrol.link": "Open in the app (on the phone)",
    "login.totp.asked": "Type the code your authenticator app shows.",
    "login.totp.wrong": "Wrong username, password or code.",
    "login.totp.enrol.wrong": "This code does not match the key: check the key typed into the app.",
    "login.error.busy": "The server is very busy: try again in a moment.",
    "account.password.open": "Password",
    "account.password.title": "Change password",
    "account.password.current": "Current password",
    "account.password.new": "New password (at least 12 characters)",
    "account.password.confirm": "New password, again",
    "account.password.submit": "Change the password",
    "account.password.close": "Close",
    "account.password.done": "Password changed. Your other sessions are closed.",
    "account.password.mismatch": "The two new passwords differ.",
    "account.password.short": "The new password must have at least 12 characters.",
    "account.password.wrong": "The current password is wrong.",
    "account.password.locked": "Too many attempts: try again in {minutes} min.",
    "account.password.failed": "The password could not be changed ({status}).",
    "ws.lost": "Connection to the server lost, reconnecting…",
    "ws.connecting": "Connecting to the server…",
    "ws.reconnecting": "Reconnecting to the server…",
    "waiting.title": "Waiting room",
    "waiting.empty": "No patient waiting.",
    "waiting.count": "{n} patient(s) waiting",
    "waiting.accept": "Take patient",
    "waiting.accepting": "Taking…",
    "waiting.taken": "Taken by {doctor}",
    "waiting.offline": "Cabin offline — waiting for it to reconnect",
    "waiting.wait": "Waiting",
    "waiting.reason.none": "No reason given",
    "waiting.cabin": "Cabin",
    "waiting.vitals": "Vitals:",
    "waiting.vitals.none": "none measured",
    "waiting.conflict": "Another doctor took this patient just before you.",
    "waiting.unavailable": "This patient's cabin is briefly disconnected: try again in a moment.",
    "waiting.gone": "This patient is no longer in the waiting room.",
    "waiting.ended.reason": "Consultation ended: {reason}.",
    "waiting.booked": "Appointment at {time}",
    "waiting.booked.you": "Booked with you at {time}",
    "waiting.booked.other": "Booked with {doctor} at {time}",
    "waiting.booked.first": "This patient booked with another doctor, who is offered them first: try again in a few minutes.",
    "age.years": "{n} years",
    "age.unknown": "age unknown",
    "sex.female": "Female",
    "sex.male": "Male",
    "sex.other": "Other",
    "sex.unknown": "Sex not given",
    "language.fr": "French",
    "language.en": "English",
    "duration.s": "{s} s",
    "duration.ms": "{m} min {s} s",
    "duration.hm": "{h} h {m} min",
    "call.born.female": "born {date}",
    "call.born.male": "born {date}",
    "call.born.other": "born {date}",
    "call.reason": "Reason:",
    "call.state.label": "Call",
    "call.state.waiting-offer": "waiting for the cabin…",
    "call.state.connecting": "connecting…",
    "call.state.connected": "in progress",
    "call.state.reconnecting": "reconnecting…",
    "call.state.ended": "ended",
    "link.label": "Cabin link",
    "link.state.connecting": "waiting",
    "link.state.connected": "up",
    "link.state.reconnecting": "Reconnecting…",
    "link.overlay": "Reconnecting to the cabin…",
    "link.overlay.detail": "The link is down; it will come back by itself.",
    "quality.label": "Quality",
    "quality.good": "good",
    "quality.medium": "fair",
    "quality.poor": "poor",
    "quality.unknown": "—",
    "quality.details": "Video {kbps} kbit/s · {fps} fps · round trip {rtt} ms · loss {loss} %",
    "video.remote": "Patient's video",
    "video.local": "Your camera",
    "video.nocamera": "Camera or microphone unavailable: the patient cannot see you.",
    "video.unmute": "Turn on the patient's sound",
    "video.waiting": "Waiting for the cabin's video…",
    "controls.mic.mute": "Mute microphone",
    "controls.mic.unmute": "Unmute microphone",
    "controls.cam.off": "Turn camera off",
    "controls.cam.on": "Turn camera on",
    "controls.hangup": "Hang up",
    "measure.title": "Ask for a measurement",
    "measure.blood_pressure": "Blood pressure",
    "measure.temperature": "Temperature",
    "measure.spo2": "SpO2 / pulse",
    "measure.requested": "requested…",
    "measure.nolink": "No link with the cabin: request not sent.",
    "vitals.title": "Vitals",
    "vitals.systolic_mmhg": "Systolic",
    "vitals.diastolic_mmhg": "Diastolic",
    "vitals.blood_pressure": "Blood pressure",
    "vitals.pulse_bpm": "Pulse",
    "vitals.temperature_c": "Temperature",
    "vitals.spo2_percent": "SpO2",
    "vitals.none": "not measured",
    "vitals.range": "normal {low}–{high} {unit}",
    "vitals.high": "▲ high",
    "vitals.low": "▼ low",
    "vitals.ok": "✓ normal",
    "vitals.at": "at {time}",
    "vitals.chart": "Trend during this consultation: {label}",
    "vitals.count": "{n} reading(s)",
    "history.title": "Earlier consultations",
    "history.loading": "Loading…",
    "history.empty": "No earlier consultation",
    "history.error": "History unavailable ({status}).",
    "history.doctor.unknown": "doctor not recorded",
    "history.reason": "Reason",
    "history.vitals": "Vitals",
    "history.notes": "Notes",
    "history.notes.none": "no notes",
    "history.advice": "Advice given to the patient",
    "history.prescriptions": "Prescriptions",
    "history.prescription": "Prescription {id} of {date}",
    "history.cabin": "cabin {cabin}",
    "history.unverified": "reported by the cabin, not verified",
    "history.doctor.none": "no verified doctor",
    "history.prescription.verified": "signed by the hub",
    "history.prescription.unverified": "reported by the cabin, not verified",
    "notes.title": "Consultation notes",
    "notes.label": "Notes (seen by the next doctors)",
    "advice.label": "Advice for the patient (printed on their summary)",
    "notes.saving": "saving…",
    "notes.saved": "saved at {time}",
    "notes.unsaved": "not saved",
    "presc.title": "Prescription",
    "presc.line": "Line {n}",
    "presc.drug": "Drug",
    "presc.dose": "Dose",
    "presc.frequency": "Frequency",
    "presc.duration": "Duration",
    "presc.instructions": "Instructions",
    "presc.renewals": "Renewals",
    "presc.add": "Add a line",
    "presc.remove": "Remove line {n}",
    "presc.send": "Send prescription",
    "presc.sending": "Sending…",
    "presc.required": "Required",
    "presc.renewals.invalid": "Between 0 and 12",
    "presc.invalid": "Fill in the marked fields before sending.",
    "presc.sent": "Prescription no. {id} sent at {time}",
    "presc.delivered": "received by the cabin",
    "presc.pending": "waiting for the cabin…",
    "presc.renewals.n": "{n} renewal(s)",
    "presc.max": "20 lines at most.",
    "error.hub": "The server says: {text}",
    "alert.kind.fall": "Fall",
    "alert.kind.stillness": "No movement for a long time",
    "alert.kind.absence": "Patient left the cabin",
    "alert.kind.call_for_help": "Call for help",
    "alert.kind.dangerous_vitals": "Dangerous reading",
    "alert.kind.panic_button": "Alert button",
    "alert.kind.device": "Device out of order",
    "alert.kind.printer": "Printer stopped",
    "alert.console.raised": "at {time}",
    "alert.console.repeats": "raised {count} times",
    "alert.console.call": "Call {number}",
    "alert.console.escalated": "Nobody took charge of this alert: you are the doctor on duty told.",
    "alert.console.take": "I'm taking charge",
    "alert.console.taking": "Sending…",
    "alert.console.offline": "No connection to the server: the alert could not be taken.",
    "alert.handled.by": "Taken charge of by {who} at {time}",
    "alert.handled.false": "False alarm reported by {who} at {time}",
    "error.code.malformed": "message refused by the server",
    "error.code.unknown_message": "message unknown to the server",
    "error.code.unauthorized": "action not allowed",
    "error.code.not_found": "consultation not found",
    "error.code.conflict": "already taken",
    "error.code.rate_limited": "too many requests",
    "error.code.unavailable": "service briefly unavailable",
    "error.code.internal": "internal server error",
    "error.code.unsupported_protocol": "protocol version not supported",
    "error.code.invalid_signature": "invalid signature",
    "error.dismiss": "Dismiss",
    "unit.mmhg": "mmHg",
    "unit.celsius": "°C",
    "unit.percent": "%",
    "unit.per_min": "/min",
    "reason.completed": "hung up",
    "reason.patient_left": "the patient left the cabin",
    "reason.doctor_left": "the doctor left",
    "reason.connection_lost": "link lost",
    "reason.timeout": "timed out",
    "reason.alert": "alert in the cabin",
  },
};

export const LANGUAGES = Object.freeze(["fr", "en"]);
const STORAGE_KEY = "console.lang";

let current = "fr";
const listeners = new Set();

/** The language stored by the last choice, French by default. */
export function initLanguage() {
  let stored = null;
  try {
    stored = window.localStorage.getItem(STORAGE_KEY);
  } catch {
    stored = null; // storage disabled: stay in French
  }
  current = LANGUAGES.includes(stored) ? stored : "fr";
  document.documentElement.lang = current;
  return current;
}

export function getLanguage() {
  return current;
}

export function setLanguage(lang) {
  if (!LANGUAGES.includes(lang) || lang === current) return;
  current = lang;
  document.documentElement.lang = lang;
  try {
    window.localStorage.setItem(STORAGE_KEY, lang);
  } catch {
    // storage disabled: the choice lasts until the page is reloaded
  }
  applyI18n(document);
  for (const listener of listeners) listener(lang);
}

export function onLanguageChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** The string `key` in the current language, `{name}` placeholders replaced by `args`. */
export function t(key, args = {}) {
  const table = STRINGS[current];
  const template = Object.hasOwn(table, key) ? table[key] : STRINGS.fr[key] ?? key;
  return template.replace(/\{(\w+)\}/g, (whole, name) =>
    Object.hasOwn(args, name) ? String(args[name]) : whole,
  );
}

/** Mark `element` as showing `key` (re-labelled on a language switch) and set its text now. */
export function bindText(element, key, args) {
  element.dataset.i18n = key;
  if (args && Object.keys(args).length) element.dataset.i18nArgs = JSON.stringify(args);
  else delete element.dataset.i18nArgs;
  element.textContent = t(key, args);
  return element;
}

/** Mark an attribute of `element` (aria-label, title, placeholder) as showing `key`. */
export function bindAttr(element, attribute, key, args) {
  const bound = JSON.parse(element.dataset.i18nAttr || "{}");
  bound[attribute] = args ? [key, args] : [key];
  element.dataset.i18nAttr = JSON.stringify(bound);
  element.setAttribute(attribute, t(key, args));
  return element;
}

/**
 * Add a page's own strings ({fr: {...}, en: {...}}) to this table: the agents' page shares the
 * console's machinery (and dom.js) with its own words. A key given again is replaced, for the
 * page that adds it only (each page loads its own modules).
 */
export function addStrings(tables) {
  for (const lang of LANGUAGES) Object.assign(STRINGS[lang], tables[lang] ?? {});
}

/** Re-label every bound element under `root` in the current language. */
export function applyI18n(root) {
  for (const element of root.querySelectorAll("[data-i18n]")) {
    const args = element.dataset.i18nArgs ? JSON.parse(element.dataset.i18nArgs) : {};
    element.textContent = t(element.dataset.i18n, args);
  }
  for (const element of root.querySelectorAll("[data-i18n-attr]")) {
    const bound = JSON.parse(element.dataset.i18nAttr);
    for (const [attribute, [key, args]] of Object.entries(bound)) {
      element.setAttribute(attribute, t(key, args));
    }
  }
  document.title = t("app.title");
}

function locale() {
  return current === "fr" ? "fr-FR" : "en-GB";
}

export function formatTime(date) {
  return new Intl.DateTimeFormat(locale(), { hour: "2-digit", minute: "2-digit" }).format(date);
}

export function formatDate(date, { utc = false } = {}) {
  return new Intl.DateTimeFormat(locale(), {
    day: "2-digit",
    month: "2-digit",
    year: "numeric",
    ...(utc ? { timeZone: "UTC" } : {}),
  }).format(date);
}

export function formatDateTime(date) {
  return new Intl.DateTimeFormat(locale(), { dateStyle: "medium", timeStyle: "short" }).format(date);
}

export function formatNumber(value, fractionDigits = 0) {
  return new Intl.NumberFormat(locale(), {
    minimumFractionDigits: fractionDigits,
    maximumFractionDigits: fractionDigits,
  }).format(value);
}

/** "12 min 05 s" from a number of seconds. */
export function formatDuration(totalSeconds) {
  const s = Math.max(0, Math.floor(totalSeconds));
  if (s < 60) return t("duration.s", { s });
  if (s < 3600) return t("duration.ms", { m: Math.floor(s / 60), s: String(s % 60).padStart(2, "0") });
  return t("duration.hm", { h: Math.floor(s / 3600), m: String(Math.floor(s / 60) % 60).padStart(2, "0") });
}
