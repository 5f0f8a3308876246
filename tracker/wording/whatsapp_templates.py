"""Suggested WhatsApp utility templates, per milestone and language, for a shop to submit to Meta and
paste the approved Content SIDs into `providers.twilio_whatsapp.templates.<milestone>.<locale>`.

The numbered values are the ones tracker fills in (tracker/notify/whatsapp.py `template_variables`):
{{1}} order number, {{2}} carrier, {{3}} expected date, {{4}} tracking link, {{5}} shop name,
{{6}} pickup point, {{7}} pickup deadline. Written to Meta's utility rules: about one order, no
promotion, no variable first or last, no two variables side by side. docs/whatsapp-templates.md is
generated from here (tests/test_whatsapp_templates.py).
"""

from __future__ import annotations

TEMPLATES: dict[str, dict[str, str]] = {
    "shipped": {
        "en": "Hello from {{5}}: your order {{1}} has shipped with {{2}}. Expected delivery: {{3}}. Follow it at {{4}} any time.",
        "pt-BR": "Olá, aqui é a {{5}}: seu pedido {{1}} foi enviado pela {{2}}. Previsão de entrega: {{3}}. Acompanhe em {{4}} quando quiser.",
        "es": "Hola, te escribe {{5}}: tu pedido {{1}} ya ha salido con {{2}}. Entrega prevista: {{3}}. Síguelo en {{4}} cuando quieras.",
        "el": "Γεια σας από {{5}}: η παραγγελία σας {{1}} στάλθηκε με {{2}}. Αναμενόμενη παράδοση: {{3}}. Παρακολουθήστε την στο {{4}} όποτε θέλετε.",
    },
    "out_for_delivery": {
        "en": "Hello from {{5}}: your order {{1}} is out for delivery today with {{2}}. Details at {{4}} if you need them.",
        "pt-BR": "Olá, aqui é a {{5}}: seu pedido {{1}} saiu para entrega hoje com a {{2}}. Detalhes em {{4}} se precisar.",
        "es": "Hola, te escribe {{5}}: tu pedido {{1}} está hoy en reparto con {{2}}. Tienes los detalles en {{4}} si los necesitas.",
        "el": "Γεια σας από {{5}}: η παραγγελία σας {{1}} είναι σήμερα σε διανομή με {{2}}. Λεπτομέρειες στο {{4}} αν τις χρειαστείτε.",
    },
    "available_for_pickup": {
        "en": "Hello from {{5}}: your order {{1}} is ready for pickup at {{6}} until {{7}}. Bring a photo ID. Address and map at {{4}} if needed.",
        "pt-BR": "Olá, aqui é a {{5}}: seu pedido {{1}} está pronto para retirada em {{6}} até {{7}}. Leve um documento com foto. Endereço e mapa em {{4}} se precisar.",
        "es": "Hola, te escribe {{5}}: tu pedido {{1}} te espera en {{6}} hasta el {{7}}. Lleva un documento con foto. Dirección y mapa en {{4}} si lo necesitas.",
        "el": "Γεια σας από {{5}}: η παραγγελία σας {{1}} σας περιμένει στο {{6}} έως {{7}}. Φέρτε ταυτότητα. Διεύθυνση και χάρτης στο {{4}} αν χρειαστεί.",
    },
    "failed_attempt": {
        "en": "Sorry, {{5}} here: {{2}} could not deliver your order {{1}} today. What happens next and your options are at {{4}} for you.",
        "pt-BR": "Desculpe, aqui é a {{5}}: a {{2}} não conseguiu entregar seu pedido {{1}} hoje. Veja o que acontece agora e suas opções em {{4}} quando puder.",
        "es": "Lo sentimos, te escribe {{5}}: {{2}} no ha podido entregar hoy tu pedido {{1}}. Qué pasa ahora y tus opciones, en {{4}} cuando puedas.",
        "el": "Λυπούμαστε, σας γράφει {{5}}: η {{2}} δεν μπόρεσε να παραδώσει σήμερα την παραγγελία σας {{1}}. Τι γίνεται τώρα και οι επιλογές σας στο {{4}} όποτε μπορείτε.",
    },
    "delivered": {
        "en": "Hello from {{5}}: your order {{1}} has been delivered. Something wrong? Tell us at {{4}} and we will sort it out.",
        "pt-BR": "Olá, aqui é a {{5}}: seu pedido {{1}} foi entregue. Algum problema? Avise a gente em {{4}} e resolvemos.",
        "es": "Hola, te escribe {{5}}: tu pedido {{1}} ya está entregado. ¿Algún problema? Avísanos en {{4}} y lo solucionamos.",
        "el": "Γεια σας από {{5}}: η παραγγελία σας {{1}} παραδόθηκε. Κάποιο πρόβλημα; Ενημερώστε μας στο {{4}} και θα το τακτοποιήσουμε.",
    },
    "exception": {
        "en": "Sorry, {{5}} here: there is a problem with the delivery of your order {{1}}. What happened and what to do are at {{4}} for you.",
        "pt-BR": "Desculpe, aqui é a {{5}}: houve um problema na entrega do seu pedido {{1}}. O que aconteceu e o que fazer estão em {{4}} para você.",
        "es": "Lo sentimos, te escribe {{5}}: hay un problema con la entrega de tu pedido {{1}}. Qué ha pasado y qué hacer, en {{4}} para ti.",
        "el": "Λυπούμαστε, σας γράφει {{5}}: υπάρχει πρόβλημα στην παράδοση της παραγγελίας σας {{1}}. Τι συνέβη και τι να κάνετε, στο {{4}} για εσάς.",
    },
    "delayed": {
        "en": "Sorry, {{5}} here: your order {{1}} is running late. New estimate: {{3}}. We are following it at {{4}} with you.",
        "pt-BR": "Desculpe, aqui é a {{5}}: seu pedido {{1}} está atrasado. Nova previsão: {{3}}. Acompanhe com a gente em {{4}} quando quiser.",
        "es": "Lo sentimos, te escribe {{5}}: tu pedido {{1}} va con retraso. Nueva fecha prevista: {{3}}. Síguelo con nosotros en {{4}} cuando quieras.",
        "el": "Λυπούμαστε, σας γράφει {{5}}: η παραγγελία σας {{1}} καθυστερεί. Νέα εκτίμηση: {{3}}. Παρακολουθήστε την μαζί μας στο {{4}} όποτε θέλετε.",
    },
    "silent": {
        "en": "Sorry for the wait, {{5}} here: your order {{1}} is still on its way with {{2}}, and we are keeping an eye on it at {{4}} for you.",
        "pt-BR": "Desculpe a demora, aqui é a {{5}}: seu pedido {{1}} continua a caminho com a {{2}}, e estamos de olho nele em {{4}} por você.",
        "es": "Perdona la espera, te escribe {{5}}: tu pedido {{1}} sigue en camino con {{2}} y lo vigilamos por ti en {{4}} a diario.",
        "el": "Συγγνώμη για την αναμονή, σας γράφει {{5}}: η παραγγελία σας {{1}} είναι ακόμη καθ' οδόν με {{2}} και την παρακολουθούμε στο {{4}} για εσάς.",
    },
}
LOCALES = ["en", "pt-BR", "es", "el"]


def document() -> str:
    lines = ["# WhatsApp templates to submit", "",
             "Generated by `tests/test_whatsapp_templates.py` from `tracker/wording/whatsapp_templates.py` (the test",
             "rewrites this file and fails while it is out of date). Category: **Utility** (one order, no promotion).",
             "Submit each text in its language (Twilio Content Template Builder: type `twilio/text`), then paste the",
             "approved Content SID into `providers.twilio_whatsapp.templates.<milestone>.<locale>`; `tracker config",
             "check` lists the ones still missing. Numbered values, filled in by tracker:", "",
             "| value | what |", "| --- | --- |",
             "| `{{1}}` | order number |", "| `{{2}}` | carrier |", "| `{{3}}` | expected date |",
             "| `{{4}}` | tracking link |", "| `{{5}}` | shop name |", "| `{{6}}` | pickup point |",
             "| `{{7}}` | pickup deadline |", ""]
    for milestone, by_locale in TEMPLATES.items():
        lines += [f"## {milestone}", ""]
        for locale in LOCALES:
            lines += [f"**{locale}** (`templates.{milestone}.{locale}`)", "", "```text", by_locale[locale], "```", ""]
    return "\n".join(lines).rstrip() + "\n"
