"""Every UI string, in Norwegian bokmål (the course's language) and English."""

from __future__ import annotations

from flask import current_app, g, request

LANGUAGES = ("nb", "en")
DEFAULT_LANGUAGE = "nb"
# Browsers send "no" or "nn" for Norwegian more often than "nb".
ALIASES = {"no": "nb", "nn": "nb", "nb-no": "nb", "no-no": "nb"}

STRINGS = {
    "nb": {
        "app_title": "Oppgavestyring",
        "served_by": "Svart av instans {id} i {zone}",
        "tasks": "Oppgaver",
        "new_task": "Ny oppgave",
        "edit_task": "Rediger oppgave",
        "title": "Tittel",
        "description": "Beskrivelse",
        "status": "Status",
        "due_date": "Frist",
        "created": "Opprettet",
        "updated": "Oppdatert",
        "actions": "Handlinger",
        "save": "Lagre",
        "cancel": "Avbryt",
        "edit": "Rediger",
        "delete": "Slett",
        "mark_done": "Merk som ferdig",
        "all": "Alle",
        "filter": "Filter",
        "no_tasks": "Ingen oppgaver her ennå.",
        "status_todo": "Å gjøre",
        "status_in_progress": "Pågår",
        "status_done": "Ferdig",
        "attachments": "Vedlegg",
        "upload": "Last opp",
        "no_attachments": "Ingen vedlegg.",
        "flash_created": "Oppgaven ble opprettet.",
        "flash_updated": "Oppgaven ble oppdatert.",
        "flash_done": "Oppgaven er merket som ferdig.",
        "flash_deleted": "Oppgaven ble slettet.",
        "flash_uploaded": "Vedlegget ble lastet opp.",
        "not_found": "Fant ikke siden.",
        "err_required": "Feltet må fylles ut.",
        "err_too_long": "Teksten er for lang (maks {max} tegn).",
        "err_not_string": "Må være tekst.",
        "err_bad_text": "Teksten inneholder ugyldige tegn.",
        "err_status": "Ugyldig status; gyldige verdier: {choices}.",
        "err_date": "Ugyldig dato; bruk formatet ÅÅÅÅ-MM-DD.",
        "err_body": "Forventet et JSON-objekt.",
        "err_unknown_field": "Ukjent felt.",
        "err_integer": "Må være et heltall mellom {min} og {max}.",
        "err_file_missing": "Velg en fil.",
        "err_file_type": "Filtypen er ikke tillatt ({type}).",
        "err_file_content": "Filinnholdet stemmer ikke med filtypen.",
        "err_file_size": "Filen er for stor (maks {max} byte).",
        "instance_text": "Du er koblet til instans: {id}",
        "language": "Språk",
    },
    "en": {
        "app_title": "Task manager",
        "served_by": "Served by instance {id} in {zone}",
        "tasks": "Tasks",
        "new_task": "New task",
        "edit_task": "Edit task",
        "title": "Title",
        "description": "Description",
        "status": "Status",
        "due_date": "Due date",
        "created": "Created",
        "updated": "Updated",
        "actions": "Actions",
        "save": "Save",
        "cancel": "Cancel",
        "edit": "Edit",
        "delete": "Delete",
        "mark_done": "Mark done",
        "all": "All",
        "filter": "Filter",
        "no_tasks": "No tasks here yet.",
        "status_todo": "To do",
        "status_in_progress": "In progress",
        "status_done": "Done",
        "attachments": "Attachments",
        "upload": "Upload",
        "no_attachments": "No attachments.",
        "flash_created": "Task created.",
        "flash_updated": "Task updated.",
        "flash_done": "Task marked as done.",
        "flash_deleted": "Task deleted.",
        "flash_uploaded": "Attachment uploaded.",
        "not_found": "Page not found.",
        "err_required": "This field is required.",
        "err_too_long": "Too long (at most {max} characters).",
        "err_not_string": "Must be a string.",
        "err_bad_text": "Contains invalid characters.",
        "err_status": "Invalid status; valid values: {choices}.",
        "err_date": "Invalid date; use the format YYYY-MM-DD.",
        "err_body": "Expected a JSON object.",
        "err_unknown_field": "Unknown field.",
        "err_integer": "Must be an integer between {min} and {max}.",
        "err_file_missing": "Choose a file.",
        "err_file_type": "File type not allowed ({type}).",
        "err_file_content": "The file content does not match its type.",
        "err_file_size": "File too large (at most {max} bytes).",
        # The seed's wording is the fleet's contract (spread checks parse it): the same in both languages.
        "instance_text": "Du er koblet til instans: {id}",
        "language": "Language",
    },
}


def negotiate() -> str:
    """The language of this request: ``?lang=``, then the ``lang`` cookie, then the
    TASKMANAGER_LANG setting, then Accept-Language, then bokmål."""
    for candidate in (request.args.get("lang"), request.cookies.get("lang"), current_app.config.get("LANGUAGE")):
        if candidate:
            code = ALIASES.get(candidate.lower(), candidate.lower())
            if code in LANGUAGES:
                return code
    best_quality, best = 0.0, DEFAULT_LANGUAGE
    for value, quality in request.accept_languages:
        code = ALIASES.get(value.lower(), value.lower().split("-")[0])
        code = ALIASES.get(code, code)
        if code in LANGUAGES and quality > best_quality:
            best_quality, best = quality, code
    return best


def language() -> str:
    if "lang" not in g:
        g.lang = negotiate()
    return g.lang


def t(key: str, **values) -> str:
    text = STRINGS[language()].get(key) or STRINGS["en"][key]
    return text.format(**values) if values else text
