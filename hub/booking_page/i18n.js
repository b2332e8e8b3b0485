// Every user-visible string of the public booking page, French first, and the formatting of
// days. An element with `data-i18n="key"` gets its text from here (again on a language switch);
// what the page builds itself is rebuilt on a switch. The language chosen is remembered on the
// device (localStorage), as the patient's relative may hand the phone back and forth.

const STRINGS = {
  fr: {
    "app.title": "Prendre rendez-vous en cabine de téléconsultation",
    "app.cancel.title": "Annuler un rendez-vous",
    "lang.toggle": "English",
    "lang.toggle.label": "Show this page in English",
    "noscript": "Cette page a besoin de JavaScript. Vous pouvez aussi prendre rendez-vous par téléphone auprès de votre mairie.",
    "step": "Étape {n} sur 4",
    "town.title": "Où voulez-vous consulter ?",
    "town.label": "Votre commune",
    "town.hint": "Tapez le début du nom, puis choisissez dans la liste.",
    "town.loading": "Chargement des communes…",
    "town.count.none": "Aucune commune ne correspond. Vérifiez l'orthographe.",
    "town.count.one": "1 commune correspond.",
    "town.count.many": "{count} communes correspondent.",
    "town.choose": "Choisir {town}",
    "cabin.title": "Choisissez la cabine",
    "cabin.none": "Pas de cabine dans cette commune pour le moment.",
    "cabin.unavailable": "temporairement indisponible",
    "slot.unavailable": "Cette cabine est temporairement indisponible : aucun rendez-vous n'est pris pour aujourd'hui. Vous pouvez choisir un autre jour ; pour une urgence, appelez le 15 ou le 112.",
    "slot.title": "Choisissez un jour, puis une heure",
    "slot.where": "Cabine : {cabin}, {town}",
    "slot.change.town": "Changer de commune",
    "slot.days": "Jours",
    "slot.day.count.one": "1 créneau",
    "slot.day.count.many": "{count} créneaux",
    "slot.day.none": "aucun créneau",
    "slot.none.day": "Aucun créneau libre ce jour-là. Choisissez un autre jour.",
    "slot.none.period": "Aucun créneau libre sur ces jours. Essayez les jours suivants.",
    "slot.later": "Jours suivants",
    "slot.earlier": "Jours précédents",
    "slot.times": "Heures libres le {day}",
    "slot.timezone": "Heures de la cabine ({zone}).",
    "slot.choose": "{time}",
    "slot.loading": "Recherche des créneaux libres…",
    "form.title": "Vos coordonnées",
    "form.chosen": "Rendez-vous le {day} à {time}, {cabin} ({town}).",
    "form.change.slot": "Changer d'heure",
    "form.family": "Nom de famille",
    "form.given": "Prénom(s)",
    "form.birth": "Date de naissance",
    "form.birth.hint": "Par exemple : 27 3 1948",
    "form.birth.day": "Jour",
    "form.birth.month": "Mois",
    "form.birth.year": "Année",
    "form.phone": "Téléphone portable (facultatif)",
    "form.phone.hint": "Pour recevoir un SMS de confirmation et de rappel. Par exemple : 06 12 34 56 78",
    "form.email": "Adresse e-mail (facultatif)",
    "form.email.hint": "Pour recevoir un e-mail de confirmation et de rappel.",
    "form.honeypot": "Ne remplissez pas ce champ",
    "form.consent": "J'accepte que mes nom, prénoms, date de naissance et coordonnées servent à ce rendez-vous : ils sont vus par le médecin et le coordinateur de la cabine, et servent à m'envoyer la confirmation et les rappels. Ils ne sont ni vendus ni partagés.",
    "form.submit": "Réserver ce rendez-vous",
    "form.busy": "Réservation en cours…",
    "form.errors": "Corrigez ce qui est indiqué ci-dessous.",
    "error.family": "Indiquez le nom de famille.",
    "error.given": "Indiquez le ou les prénoms.",
    "error.birth": "Indiquez une date de naissance complète et possible (jour, mois, année).",
    "error.phone": "Ce numéro de téléphone n'est pas valable. Exemple : 06 12 34 56 78.",
    "error.email": "Cette adresse e-mail n'est pas valable. Exemple : nom@exemple.fr.",
    "error.consent": "Cochez la case d'accord pour réserver.",
    "error.slot_taken": "Ce créneau vient d'être pris par quelqu'un d'autre. Choisissez-en un autre.",
    "error.cabin_unavailable": "Cette cabine est temporairement indisponible aujourd'hui. Choisissez un autre jour.",
    "error.slot_unavailable": "Ce créneau n'est plus disponible. Choisissez-en un autre.",
    "error.rate": "Trop de demandes : réessayez dans {minutes} minutes.",
    "error.rate.one": "Trop de demandes : réessayez dans 1 minute.",
    "error.refused": "Votre demande n'a pas pu être enregistrée. Rechargez la page et réessayez, ou prenez rendez-vous par téléphone.",
    "error.network": "Le serveur ne répond pas. Vérifiez la connexion puis réessayez.",
    "error.server": "Le service est momentanément indisponible. Réessayez dans quelques minutes.",
    "done.title": "Votre rendez-vous est réservé",
    "done.slip": "Rendez-vous en cabine de téléconsultation",
    "done.cabin": "Cabine",
    "done.town": "Commune",
    "done.when": "Date et heure",
    "done.when.value": "{day} à {time}",
    "done.code": "Votre code",
    "done.code.hint": "Tapez ce code sur l'écran de la cabine en arrivant. Gardez-le : il sert aussi à annuler.",
    "done.by.email": "Vous allez recevoir une confirmation par e-mail.",
    "done.by.sms": "Vous allez recevoir une confirmation par SMS.",
    "done.by.both": "Vous allez recevoir une confirmation par e-mail et par SMS.",
    "done.by.none": "Vous ne recevrez pas de message : notez ou imprimez ce code.",
    "done.print": "Imprimer",
    "done.cancel": "Annuler ce rendez-vous",
    "done.again": "Prendre un autre rendez-vous",
    "link.cancel": "Annuler un rendez-vous",
    "link.book": "Prendre un rendez-vous",
    "cancel.title": "Annuler un rendez-vous",
    "cancel.lead": "Donnez le code reçu lors de la réservation et votre date de naissance.",
    "cancel.code": "Code du rendez-vous (6 chiffres)",
    "cancel.reason": "Pourquoi annulez-vous ?",
    "cancel.reason.hint": "Votre réponse aide à mieux organiser les rendez-vous.",
    "cancel.reason.unavailable": "Je ne suis plus disponible",
    "cancel.reason.better": "Je vais mieux",
    "cancel.reason.elsewhere": "J'ai vu un médecin ailleurs",
    "cancel.reason.slot": "Je veux un autre créneau",
    "cancel.reason.other": "Autre raison",
    "cancel.reason.other.label": "Précisez la raison",
    "cancel.submit": "Annuler le rendez-vous",
    "cancel.busy": "Annulation en cours…",
    "cancel.error.code": "Le code a 6 chiffres.",
    "cancel.error.reason": "Choisissez une raison.",
    "cancel.error.other": "Précisez la raison.",
    "cancel.error.not_found": "Aucun rendez-vous à annuler ne correspond à ce code et à cette date de naissance. Vérifiez-les et réessayez.",
    "cancel.error.not_booked": "Ce rendez-vous ne peut plus être annulé en ligne : son heure est passée, ou le patient est déjà arrivé.",
    "cancel.done.title": "Votre rendez-vous est annulé",
    "cancel.done.text": "Le rendez-vous du {day} à {time}, {cabin} ({town}), est annulé. Le créneau est libéré pour quelqu'un d'autre.",
  },
  en: {
    "app.title": "Book a teleconsultation cabin",
    "app.cancel.title": "Cancel an appointment",
    "lang.toggle": "Français",
    "lang.toggle.label": "Afficher cette page en français",
    "noscript": "This page needs JavaScript. You can also book by phone with your town hall.",
    "step": "Step {n} of 4",
    "town.title": "Where do you want to see a doctor?",
    "town.label": "Your town",
    "town.hint": "Type the start of its name, then choose from the list.",
    "town.loading": "Loading the towns…",
    "town.count.none": "No town matches. Check the spelling.",
    "town.count.one": "1 town matches.",
    "town.count.many": "{count} towns match.",
    "town.choose": "Choose {town}",
    "cabin.title": "Choose the cabin",
    "cabin.none": "No cabin in this town for now.",
    "cabin.unavailable": "temporarily unavailable",
    "slot.unavailable": "This cabin is temporarily unavailable: no appointment is taken for today. You may choose another day; for an emergency, call 15 or 112.",
    "slot.title": "Choose a day, then a time",
    "slot.where": "Cabin: {cabin}, {town}",
    "slot.change.town": "Change town",
    "slot.days": "Days",
    "slot.day.count.one": "1 slot",
    "slot.day.count.many": "{count} slots",
    "slot.day.none": "no slot",
    "slot.none.day": "No free slot on that day. Choose another day.",
    "slot.none.period": "No free slot on these days. Try the next days.",
    "slot.later": "Next days",
    "slot.earlier": "Previous days",
    "slot.times": "Free times on {day}",
    "slot.timezone": "Times of the cabin ({zone}).",
    "slot.choose": "{time}",
    "slot.loading": "Looking for free slots…",
    "form.title": "About you",
    "form.chosen": "Appointment on {day} at {time}, {cabin} ({town}).",
    "form.change.slot": "Change time",
    "form.family": "Family name",
    "form.given": "Given name(s)",
    "form.birth": "Date of birth",
    "form.birth.hint": "For example: 27 3 1948",
    "form.birth.day": "Day",
    "form.birth.month": "Month",
    "form.birth.year": "Year",
    "form.phone": "Mobile phone (optional)",
    "form.phone.hint": "To get a text message confirming and reminding. For example: 06 12 34 56 78",
    "form.email": "E-mail address (optional)",
    "form.email.hint": "To get an e-mail confirming and reminding.",
    "form.honeypot": "Leave this field empty",
    "form.consent": "I agree that my names, date of birth and contact details are used for this appointment: the cabin's doctor and coordinator see them, and they are used to send me the confirmation and reminders. They are neither sold nor shared.",
    "form.submit": "Book this appointment",
    "form.busy": "Booking…",
    "form.errors": "Please correct what is shown below.",
    "error.family": "Give the family name.",
    "error.given": "Give the given name(s).",
    "error.birth": "Give a full, possible date of birth (day, month, year).",
    "error.phone": "This phone number is not valid. Example: 06 12 34 56 78.",
    "error.email": "This e-mail address is not valid. Example: name@example.com.",
    "error.consent": "Tick the consent box to book.",
    "error.slot_taken": "Someone else has just taken this slot. Choose another one.",
    "error.cabin_unavailable": "This cabin is temporarily unavailable today. Choose another day.",
    "error.slot_unavailable": "This slot is no longer available. Choose another one.",
    "error.rate": "Too many requests: try again in {minutes} minutes.",
    "error.rate.one": "Too many requests: try again in 1 minute.",
    "error.refused": "Your request could not be recorded. Reload the page and try again, or book by phone.",
    "error.network": "The server does not answer. Check the connection and try again.",
    "error.server": "The service is unavailable for a moment. Try again in a few minutes.",
    "done.title": "Your appointment is booked",
    "done.slip": "Teleconsultation cabin appointment",
    "done.cabin": "Cabin",
    "done.town": "Town",
    "done.when": "Date and time",
    "done.when.value": "{day} at {time}",
    "done.code": "Your code",
    "done.code.hint": "Type this code on the cabin's screen when you arrive. Keep it: it also cancels.",
    "done.by.email": "You will get a confirmation by e-mail.",
    "done.by.sms": "You will get a confirmation by text message (SMS).",
    "done.by.both": "You will get a confirmation by e-mail and by text message (SMS).",
    "done.by.none": "You will get no message: write down or print this code.",
    "done.print": "Print",
    "done.cancel": "Cancel this appointment",
    "done.again": "Book another appointment",
    "link.cancel": "Cancel an appointment",
    "link.book": "Book an appointment",
    "cancel.title": "Cancel an appointment",
    "cancel.lead": "Give the code you got when booking and your date of birth.",
    "cancel.code": "Appointment code (6 digits)",
    "cancel.reason": "Why do you cancel?",
    "cancel.reason.hint": "Your answer helps to organise the appointments better.",
    "cancel.reason.unavailable": "I am no longer available",
    "cancel.reason.better": "I feel better",
    "cancel.reason.elsewhere": "I saw a doctor elsewhere",
    "cancel.reason.slot": "I want another slot",
    "cancel.reason.other": "Another reason",
    "cancel.reason.other.label": "Say which",
    "cancel.submit": "Cancel the appointment",
    "cancel.busy": "Cancelling…",
    "cancel.error.code": "The code has 6 digits.",
    "cancel.error.reason": "Choose a reason.",
    "cancel.error.other": "Say which reason.",
    "cancel.error.not_found": "No appointment to cancel matches this code and date of birth. Check them and try again.",
    "cancel.error.not_booked": "This appointment can no longer be cancelled online: its time has passed, or the patient has arrived.",
    "cancel.done.title": "Your appointment is cancelled",
    "cancel.done.text": "The appointment on {day} at {time}, {cabin} ({town}), is cancelled. The slot is free for someone else.",
  },
};

const STORAGE_KEY = "booking.language";
const listeners = [];
let language = "fr";

export function initLanguage() {
  const asked = new URLSearchParams(location.search).get("lang");
  let stored = null;
  try {
    stored = localStorage.getItem(STORAGE_KEY);
  } catch {
    stored = null; // storage refused (private mode): French, as the page is
  }
  const chosen = asked || stored;
  language = chosen === "en" ? "en" : "fr";
  document.documentElement.lang = language;
}

export function getLanguage() {
  return language;
}

export function setLanguage(next) {
  language = next === "en" ? "en" : "fr";
  document.documentElement.lang = language;
  try {
    localStorage.setItem(STORAGE_KEY, language);
  } catch {
    // not remembered; the page still switches
  }
  applyI18n(document);
  for (const listener of listeners) listener(language);
}

export function onLanguageChange(listener) {
  listeners.push(listener);
}

export function t(key, args = {}) {
  const text = STRINGS[language][key] ?? STRINGS.fr[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in args ? String(args[name]) : `{${name}}`));
}

// Sets the element's text from `key` (and keeps the key, for a language switch).
export function bindText(element, key, args = undefined) {
  element.dataset.i18n = key;
  if (args) element.dataset.i18nArgs = JSON.stringify(args);
  else delete element.dataset.i18nArgs;
  element.textContent = t(key, args);
}

export function applyI18n(root) {
  for (const element of root.querySelectorAll("[data-i18n]")) {
    const args = element.dataset.i18nArgs ? JSON.parse(element.dataset.i18nArgs) : undefined;
    element.textContent = t(element.dataset.i18n, args);
  }
  for (const element of root.querySelectorAll("[data-i18n-label]")) {
    element.setAttribute("aria-label", t(element.dataset.i18nLabel));
  }
}

// "2026-12-08" as the patient reads it: "mardi 8 décembre" / "Tuesday 8 December".
export function formatDay(isoDay, { withYear = false, short = false } = {}) {
  const [year, month, day] = isoDay.split("-").map(Number);
  const moment = new Date(Date.UTC(year, month - 1, day, 12));
  const options = { timeZone: "UTC", weekday: short ? "short" : "long", day: "numeric", month: short ? "short" : "long" };
  if (withYear) options.year = "numeric";
  return new Intl.DateTimeFormat(language === "fr" ? "fr-FR" : "en-GB", options).format(moment);
}
