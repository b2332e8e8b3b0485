// Every user-visible string of the agents' alert page, French first, and the formatting of
// times. Elements built with a `data-i18n` key are re-labelled by applyI18n() on a language
// switch; the alert lists re-render instead. The machinery (language, t, bindText, applyI18n)
// is the console's: these strings are added to its table.

import { addStrings, getLanguage, t } from "/console/i18n.js";

const STRINGS = {
  fr: {
    "app.title": "Alertes des cabines",
    "app.short": "Alertes des cabines",
    "lang.toggle": "English",
    "login.title": "Connexion agent",
    "login.lead": "Infirmier·e ou agent de mairie : connectez-vous pour recevoir les alertes de vos cabines.",
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
    "doctor.refused": "Cette page est réservée aux agents d'accueil et aux infirmiers. Un compte médecin reçoit les alertes dans sa console.",
    "doctor.console": "Ouvrir la console médecin",
    "logout": "Se déconnecter",
    "session.expired": "Votre session a expiré : reconnectez-vous.",
    "ws.open": "Connecté",
    "ws.connecting": "Connexion…",
    "ws.lost": "Reconnexion…",
    "ws.lost.banner": "CONNEXION PERDUE — les alertes n'arrivent plus sur cette page. Reconnexion en cours…",
    "ws.lost.detail": "Si cela dure, rechargez la page ou utilisez un autre appareil.",
    "sound.enable": "Activer le son",
    "sound.needed": "Le son des alertes est coupé par le navigateur.",
    "sound.on": "Son activé",
    "open.title": "Alertes en cours",
    "open.empty": "Aucune alerte en cours. Cette page sonnera si une cabine a besoin de vous.",
    "handled.title": "Alertes traitées",
    "handled.empty": "Aucune alerte traitée depuis l'ouverture de la page.",
    "alert.kind.fall": "Chute",
    "alert.kind.stillness": "Immobilité prolongée",
    "alert.kind.absence": "Patient parti de la cabine",
    "alert.kind.call_for_help": "Appel à l'aide",
    "alert.kind.dangerous_vitals": "Mesure dangereuse",
    "alert.kind.panic_button": "Bouton d'alerte",
    "alert.kind.device": "Appareil en panne",
    "alert.kind.printer": "Imprimante arrêtée",
    "severity.critical": "Urgent",
    "severity.warning": "À vérifier",
    "severity.info": "Information",
    "alert.raised": "Levée à {time}",
    "alert.ago": "il y a {duration}",
    "alert.confidence": "Fiabilité de la détection : {percent} %",
    "alert.detail": "Détail : {detail}",
    "alert.escalated": "Médecin de garde prévenu — appelez le {number} si besoin",
    "alert.go": "J'y vais",
    "alert.false": "Fausse alerte",
    "alert.sending": "Envoi…",
    "alert.offline": "Pas de connexion : votre réponse n'est pas partie. Allez-y quand même et réessayez.",
    "alert.refused": "Le serveur a refusé : {text}",
    "handled.by": "Prise en charge par {who} à {time}",
    "handled.false": "Fausse alerte signalée par {who} à {time}",
    "handled.gone": "Terminée pendant la coupure de connexion",
    "handled.patient": "le patient",
    "title.alarm": "ALERTE — {cabin}",
    "duration.s": "{s} s",
    "duration.ms": "{m} min {s} s",
    "duration.hm": "{h} h {m} min",
  },
  en: {
    "app.title": "Cabin alerts",
    "app.short": "Cabin alerts",
    "lang.toggle": "Français",
    "login.title": "Agent sign-in",
    "login.lead": "Nurse or town hall agent: sign in to receive your cabins' alerts.",
    "login.username": "Username",
    "login.password": "Password",
    "login.submit": "Sign in",
    "login.busy": "Signing in…",
    "login.error.credentials": "Wrong username or password.",
    "login.error.locked": "Account locked after several attempts: try again in {minutes} min.",
    "login.error.rate": "Too many attempts from this device: try again in {seconds} s.",
    "login.error.network": "The server does not answer. Check the connection and try again.",
    "login.error.server": "The server refused the sign-in ({status}).",
    "login.error.missing": "Enter your username and password.",
    "doctor.refused": "This page is for reception agents and nurses. A doctor's account gets alerts in the console.",
    "doctor.console": "Open the doctor's console",
    "logout": "Sign out",
    "session.expired": "Your session has expired: sign in again.",
    "ws.open": "Connected",
    "ws.connecting": "Connecting…",
    "ws.lost": "Reconnecting…",
    "ws.lost.banner": "CONNECTION LOST — alerts no longer reach this page. Reconnecting…",
    "ws.lost.detail": "If this lasts, reload the page or use another device.",
    "sound.enable": "Turn sound on",
    "sound.needed": "The browser has muted the alert sound.",
    "sound.on": "Sound on",
    "open.title": "Open alerts",
    "open.empty": "No open alert. This page will ring if a cabin needs you.",
    "handled.title": "Handled alerts",
    "handled.empty": "No alert handled since this page was opened.",
    "alert.kind.fall": "Fall",
    "alert.kind.stillness": "No movement for a long time",
    "alert.kind.absence": "Patient left the cabin",
    "alert.kind.call_for_help": "Call for help",
    "alert.kind.dangerous_vitals": "Dangerous reading",
    "alert.kind.panic_button": "Alert button",
    "alert.kind.device": "Device out of order",
    "alert.kind.printer": "Printer stopped",
    "severity.critical": "Urgent",
    "severity.warning": "To check",
    "severity.info": "Information",
    "alert.raised": "Raised at {time}",
    "alert.ago": "{duration} ago",
    "alert.confidence": "Detection confidence: {percent} %",
    "alert.detail": "Detail: {detail}",
    "alert.escalated": "Doctor on duty told — call {number} if needed",
    "alert.go": "I'm going",
    "alert.false": "False alarm",
    "alert.sending": "Sending…",
    "alert.offline": "No connection: your answer did not leave. Go anyway and try again.",
    "alert.refused": "The server refused: {text}",
    "handled.by": "Taken charge of by {who} at {time}",
    "handled.false": "False alarm reported by {who} at {time}",
    "handled.gone": "Ended while the connection was down",
    "handled.patient": "the patient",
    "title.alarm": "ALERT — {cabin}",
    "duration.s": "{s} s",
    "duration.ms": "{m} min {s} s",
    "duration.hm": "{h} h {m} min",
  },
};

addStrings(STRINGS);

export {
  applyI18n, bindAttr, bindText, getLanguage, initLanguage, LANGUAGES, onLanguageChange,
  setLanguage, t,
} from "/console/i18n.js";

function locale() {
  return getLanguage() === "fr" ? "fr-FR" : "en-GB";
}

export function formatTime(date) {
  return new Intl.DateTimeFormat(locale(), { hour: "2-digit", minute: "2-digit", second: "2-digit" }).format(date);
}

export function formatDuration(totalSeconds) {
  const s = Math.max(0, Math.floor(totalSeconds));
  if (s < 60) return t("duration.s", { s });
  if (s < 3600) return t("duration.ms", { m: Math.floor(s / 60), s: String(s % 60).padStart(2, "0") });
  return t("duration.hm", { h: Math.floor(s / 3600), m: String(Math.floor(s / 60) % 60).padStart(2, "0") });
}
