//! What each message says, in each supported locale. Polite first, firmer later, and always clear about
//! the next step (DOMAIN.md). Placeholders: `{name}`, `{amount}`, `{company}`, `{date}`.

use super::Message;

/// One message's words.
pub struct Copy {
    pub subject: &'static str,
    pub heading: &'static str,
    pub paragraphs: &'static [&'static str],
    /// The button; `None` for messages that ask nothing of the customer.
    pub action: Option<&'static str>,
}

/// Words every message shares.
pub struct Common {
    pub greeting_named: &'static str,
    pub greeting: &'static str,
    pub link_fallback: &'static str,
    pub questions: &'static str,
    pub sign_off: &'static str,
}

pub fn common(locale: &str) -> &'static Common {
    match locale {
        "fr" => &Common {
            greeting_named: "Bonjour {name},",
            greeting: "Bonjour,",
            link_fallback: "Si le bouton ne fonctionne pas, copiez ce lien dans votre navigateur :",
            questions: "Une question ? Écrivez-nous :",
            sign_off: "L’équipe {company}",
        },
        "nl" => &Common {
            greeting_named: "Beste {name},",
            greeting: "Hallo,",
            link_fallback: "Werkt de knop niet? Kopieer deze link naar je browser:",
            questions: "Vragen? Mail ons:",
            sign_off: "Het team van {company}",
        },
        "de" => &Common {
            greeting_named: "Hallo {name},",
            greeting: "Hallo,",
            link_fallback: "Falls die Schaltfläche nicht funktioniert, kopieren Sie diesen Link in Ihren Browser:",
            questions: "Fragen? Schreiben Sie uns:",
            sign_off: "Ihr {company}-Team",
        },
        "es" => &Common {
            greeting_named: "Hola, {name}:",
            greeting: "Hola:",
            link_fallback: "Si el botón no funciona, copia este enlace en tu navegador:",
            questions: "¿Preguntas? Escríbenos:",
            sign_off: "El equipo de {company}",
        },
        _ => &Common {
            greeting_named: "Hi {name},",
            greeting: "Hi,",
            link_fallback: "If the button does not work, copy this link into your browser:",
            questions: "Questions? Write to us:",
            sign_off: "The {company} team",
        },
    }
}

pub fn copy(message: Message, locale: &str) -> Copy {
    match locale {
        "fr" => fr(message),
        "nl" => nl(message),
        "de" => de(message),
        "es" => es(message),
        _ => en(message),
    }
}

fn en(m: Message) -> Copy {
    match m {
        Message::Failed => Copy {
            subject: "Your payment to {company} didn't go through",
            heading: "Your payment didn't go through",
            paragraphs: &[
                "We tried to charge {amount} for your {company} subscription, but the payment didn't go through. This happens — a card expires, a bank is cautious.",
                "It takes a minute to check or update your card, and your subscription carries on as before.",
            ],
            action: Some("Update your card"),
        },
        Message::Reminder => Copy {
            subject: "Reminder: {amount} is still due to {company}",
            heading: "Your payment is still due",
            paragraphs: &[
                "We still haven't been able to collect {amount} for your {company} subscription.",
                "Please update your card so that your service continues without interruption.",
            ],
            action: Some("Update your card"),
        },
        Message::Firm => Copy {
            subject: "Action needed: your {company} subscription will be cancelled on {date}",
            heading: "Your subscription is at risk",
            paragraphs: &[
                "The payment of {amount} for your {company} subscription is still outstanding after several attempts.",
                "If it is not settled by {date}, your subscription will be cancelled. Updating your card now settles it straight away.",
            ],
            action: Some("Pay {amount} now"),
        },
        Message::Final => Copy {
            subject: "Final notice: your {company} subscription ends on {date}",
            heading: "Final notice",
            paragraphs: &[
                "This is our last reminder: {amount} for your {company} subscription is still unpaid.",
                "On {date} your subscription will be cancelled. To keep it, please update your card before then.",
            ],
            action: Some("Keep my subscription"),
        },
        Message::UpdateCard => Copy {
            subject: "Please update your card for {company}",
            heading: "Your card was declined",
            paragraphs: &[
                "Your bank declined the payment of {amount} for your {company} subscription, and trying the same card again won't help.",
                "Please add a new card so that your subscription continues.",
            ],
            action: Some("Add a new card"),
        },
        Message::ConfirmPayment => Copy {
            subject: "Please confirm your payment to {company}",
            heading: "Your bank needs your confirmation",
            paragraphs: &[
                "Your bank asks you to confirm the payment of {amount} for your {company} subscription.",
                "It takes a moment: follow the link and approve the payment with your bank.",
            ],
            action: Some("Confirm the payment"),
        },
        Message::CardUpdated => Copy {
            subject: "Thank you — your card for {company} is updated",
            heading: "Thank you for updating your card",
            paragraphs: &[
                "Your new card is saved. We are collecting the {amount} due now; you don't need to do anything else.",
            ],
            action: None,
        },
        Message::PaymentReceived => Copy {
            subject: "Payment received — thank you",
            heading: "Payment received",
            paragraphs: &[
                "We received your payment of {amount}. Your {company} subscription is fully up to date. Thank you!",
            ],
            action: None,
        },
        Message::SubscriptionCancelled => Copy {
            subject: "Your {company} subscription has been cancelled",
            heading: "Your subscription has been cancelled",
            paragraphs: &[
                "As the payment of {amount} could not be collected, your {company} subscription has been cancelled.",
                "You are welcome back at any time. If you think this is a mistake, just reply to this email.",
            ],
            action: None,
        },
        Message::CardExpiring => Copy {
            subject: "Your card for {company} expires soon",
            heading: "Your card is about to expire",
            paragraphs: &[
                "The card you pay your {company} subscription with expires on {date}.",
                "Update it now and your next payment will go through without interruption.",
            ],
            action: Some("Update your card"),
        },
    }
}

fn fr(m: Message) -> Copy {
    match m {
        Message::Failed => Copy {
            subject: "Votre paiement à {company} n’a pas abouti",
            heading: "Votre paiement n’a pas abouti",
            paragraphs: &[
                "Nous avons tenté de prélever {amount} pour votre abonnement {company}, mais le paiement n’a pas abouti. Cela arrive : une carte expire, une banque se montre prudente.",
                "Vérifier ou mettre à jour votre carte ne prend qu’une minute, et votre abonnement continue comme avant.",
            ],
            action: Some("Mettre à jour ma carte"),
        },
        Message::Reminder => Copy {
            subject: "Rappel : {amount} restent dus à {company}",
            heading: "Votre paiement est toujours en attente",
            paragraphs: &[
                "Nous n’avons toujours pas pu encaisser {amount} pour votre abonnement {company}.",
                "Merci de mettre à jour votre carte afin que votre service continue sans interruption.",
            ],
            action: Some("Mettre à jour ma carte"),
        },
        Message::Firm => Copy {
            subject: "Action requise : votre abonnement {company} sera résilié le {date}",
            heading: "Votre abonnement est menacé",
            paragraphs: &[
                "Le paiement de {amount} pour votre abonnement {company} reste impayé malgré plusieurs tentatives.",
                "S’il n’est pas réglé d’ici le {date}, votre abonnement sera résilié. Mettre à jour votre carte maintenant le règle immédiatement.",
            ],
            action: Some("Payer {amount} maintenant"),
        },
        Message::Final => Copy {
            subject: "Dernier avis : votre abonnement {company} prend fin le {date}",
            heading: "Dernier avis",
            paragraphs: &[
                "Ceci est notre dernier rappel : {amount} restent impayés pour votre abonnement {company}.",
                "Le {date}, votre abonnement sera résilié. Pour le conserver, mettez à jour votre carte avant cette date.",
            ],
            action: Some("Conserver mon abonnement"),
        },
        Message::UpdateCard => Copy {
            subject: "Merci de mettre à jour votre carte pour {company}",
            heading: "Votre carte a été refusée",
            paragraphs: &[
                "Votre banque a refusé le paiement de {amount} pour votre abonnement {company}, et réessayer la même carte n’y changera rien.",
                "Merci d’ajouter une nouvelle carte pour que votre abonnement continue.",
            ],
            action: Some("Ajouter une carte"),
        },
        Message::ConfirmPayment => Copy {
            subject: "Merci de confirmer votre paiement à {company}",
            heading: "Votre banque demande votre confirmation",
            paragraphs: &[
                "Votre banque vous demande de confirmer le paiement de {amount} pour votre abonnement {company}.",
                "C’est rapide : suivez le lien et validez le paiement auprès de votre banque.",
            ],
            action: Some("Confirmer le paiement"),
        },
        Message::CardUpdated => Copy {
            subject: "Merci — votre carte pour {company} est à jour",
            heading: "Merci d’avoir mis à jour votre carte",
            paragraphs: &[
                "Votre nouvelle carte est enregistrée. Nous encaissons maintenant les {amount} dus ; vous n’avez rien d’autre à faire.",
            ],
            action: None,
        },
        Message::PaymentReceived => Copy {
            subject: "Paiement reçu — merci",
            heading: "Paiement reçu",
            paragraphs: &[
                "Nous avons bien reçu votre paiement de {amount}. Votre abonnement {company} est à jour. Merci !",
            ],
            action: None,
        },
        Message::SubscriptionCancelled => Copy {
            subject: "Votre abonnement {company} a été résilié",
            heading: "Votre abonnement a été résilié",
            paragraphs: &[
                "Le paiement de {amount} n’ayant pas pu être encaissé, votre abonnement {company} a été résilié.",
                "Vous pouvez revenir à tout moment. Si vous pensez qu’il s’agit d’une erreur, répondez simplement à cet e-mail.",
            ],
            action: None,
        },
        Message::CardExpiring => Copy {
            subject: "Votre carte pour {company} expire bientôt",
            heading: "Votre carte arrive à expiration",
            paragraphs: &[
                "La carte avec laquelle vous réglez votre abonnement {company} expire le {date}.",
                "Mettez-la à jour dès maintenant pour que votre prochain paiement passe sans interruption.",
            ],
            action: Some("Mettre à jour ma carte"),
        },
    }
}

fn nl(m: Message) -> Copy {
    match m {
        Message::Failed => Copy {
            subject: "Je betaling aan {company} is niet gelukt",
            heading: "Je betaling is niet gelukt",
            paragraphs: &[
                "We probeerden {amount} af te schrijven voor je abonnement bij {company}, maar de betaling is niet gelukt. Dat gebeurt: een kaart verloopt, een bank is voorzichtig.",
                "Je kaart controleren of bijwerken kost maar een minuut, en je abonnement loopt gewoon door.",
            ],
            action: Some("Kaart bijwerken"),
        },
        Message::Reminder => Copy {
            subject: "Herinnering: er staat nog {amount} open bij {company}",
            heading: "Je betaling staat nog open",
            paragraphs: &[
                "We hebben {amount} voor je abonnement bij {company} nog steeds niet kunnen innen.",
                "Werk je kaart bij, dan loopt je dienst zonder onderbreking door.",
            ],
            action: Some("Kaart bijwerken"),
        },
        Message::Firm => Copy {
            subject: "Actie nodig: je abonnement bij {company} wordt op {date} opgezegd",
            heading: "Je abonnement loopt gevaar",
            paragraphs: &[
                "De betaling van {amount} voor je abonnement bij {company} staat na meerdere pogingen nog open.",
                "Als die op {date} niet is voldaan, wordt je abonnement opgezegd. Werk je kaart nu bij en het is meteen geregeld.",
            ],
            action: Some("Nu {amount} betalen"),
        },
        Message::Final => Copy {
            subject: "Laatste herinnering: je abonnement bij {company} stopt op {date}",
            heading: "Laatste herinnering",
            paragraphs: &[
                "Dit is onze laatste herinnering: {amount} voor je abonnement bij {company} is nog niet betaald.",
                "Op {date} wordt je abonnement opgezegd. Wil je het houden, werk dan vóór die datum je kaart bij.",
            ],
            action: Some("Abonnement behouden"),
        },
        Message::UpdateCard => Copy {
            subject: "Werk je kaart bij voor {company}",
            heading: "Je kaart is geweigerd",
            paragraphs: &[
                "Je bank heeft de betaling van {amount} voor je abonnement bij {company} geweigerd, en dezelfde kaart opnieuw proberen helpt niet.",
                "Voeg een nieuwe kaart toe, dan loopt je abonnement door.",
            ],
            action: Some("Nieuwe kaart toevoegen"),
        },
        Message::ConfirmPayment => Copy {
            subject: "Bevestig je betaling aan {company}",
            heading: "Je bank vraagt om bevestiging",
            paragraphs: &[
                "Je bank vraagt je de betaling van {amount} voor je abonnement bij {company} te bevestigen.",
                "Het is zo gedaan: volg de link en keur de betaling goed bij je bank.",
            ],
            action: Some("Betaling bevestigen"),
        },
        Message::CardUpdated => Copy {
            subject: "Bedankt — je kaart voor {company} is bijgewerkt",
            heading: "Bedankt voor het bijwerken van je kaart",
            paragraphs: &[
                "Je nieuwe kaart is opgeslagen. We innen nu de openstaande {amount}; je hoeft verder niets te doen.",
            ],
            action: None,
        },
        Message::PaymentReceived => Copy {
            subject: "Betaling ontvangen — bedankt",
            heading: "Betaling ontvangen",
            paragraphs: &[
                "We hebben je betaling van {amount} ontvangen. Je abonnement bij {company} is weer helemaal bij. Bedankt!",
            ],
            action: None,
        },
        Message::SubscriptionCancelled => Copy {
            subject: "Je abonnement bij {company} is opgezegd",
            heading: "Je abonnement is opgezegd",
            paragraphs: &[
                "Omdat de betaling van {amount} niet kon worden geïnd, is je abonnement bij {company} opgezegd.",
                "Je bent altijd welkom om terug te komen. Denk je dat dit een vergissing is? Beantwoord dan deze e-mail.",
            ],
            action: None,
        },
        Message::CardExpiring => Copy {
            subject: "Je kaart voor {company} verloopt binnenkort",
            heading: "Je kaart verloopt binnenkort",
            paragraphs: &[
                "De kaart waarmee je je abonnement bij {company} betaalt, verloopt op {date}.",
                "Werk hem nu bij, dan gaat je volgende betaling zonder onderbreking door.",
            ],
            action: Some("Kaart bijwerken"),
        },
    }
}

fn de(m: Message) -> Copy {
    match m {
        Message::Failed => Copy {
            subject: "Ihre Zahlung an {company} ist nicht durchgegangen",
            heading: "Ihre Zahlung ist nicht durchgegangen",
            paragraphs: &[
                "Wir wollten {amount} für Ihr {company}-Abonnement abbuchen, doch die Zahlung ist nicht durchgegangen. Das kommt vor: Eine Karte läuft ab, eine Bank ist vorsichtig.",
                "Ihre Karte zu prüfen oder zu aktualisieren dauert nur eine Minute, und Ihr Abonnement läuft weiter wie bisher.",
            ],
            action: Some("Karte aktualisieren"),
        },
        Message::Reminder => Copy {
            subject: "Erinnerung: {amount} an {company} sind noch offen",
            heading: "Ihre Zahlung ist noch offen",
            paragraphs: &[
                "Wir konnten {amount} für Ihr {company}-Abonnement noch immer nicht einziehen.",
                "Bitte aktualisieren Sie Ihre Karte, damit Ihr Dienst ohne Unterbrechung weiterläuft.",
            ],
            action: Some("Karte aktualisieren"),
        },
        Message::Firm => Copy {
            subject: "Handlungsbedarf: Ihr {company}-Abonnement wird am {date} gekündigt",
            heading: "Ihr Abonnement ist gefährdet",
            paragraphs: &[
                "Die Zahlung von {amount} für Ihr {company}-Abonnement ist nach mehreren Versuchen noch offen.",
                "Wird sie bis zum {date} nicht beglichen, wird Ihr Abonnement gekündigt. Aktualisieren Sie jetzt Ihre Karte, dann ist alles sofort erledigt.",
            ],
            action: Some("Jetzt {amount} bezahlen"),
        },
        Message::Final => Copy {
            subject: "Letzte Mahnung: Ihr {company}-Abonnement endet am {date}",
            heading: "Letzte Mahnung",
            paragraphs: &[
                "Dies ist unsere letzte Erinnerung: {amount} für Ihr {company}-Abonnement sind noch unbezahlt.",
                "Am {date} wird Ihr Abonnement gekündigt. Um es zu behalten, aktualisieren Sie bitte vorher Ihre Karte.",
            ],
            action: Some("Abonnement behalten"),
        },
        Message::UpdateCard => Copy {
            subject: "Bitte aktualisieren Sie Ihre Karte für {company}",
            heading: "Ihre Karte wurde abgelehnt",
            paragraphs: &[
                "Ihre Bank hat die Zahlung von {amount} für Ihr {company}-Abonnement abgelehnt, und ein erneuter Versuch mit derselben Karte hilft nicht.",
                "Bitte hinterlegen Sie eine neue Karte, damit Ihr Abonnement weiterläuft.",
            ],
            action: Some("Neue Karte hinterlegen"),
        },
        Message::ConfirmPayment => Copy {
            subject: "Bitte bestätigen Sie Ihre Zahlung an {company}",
            heading: "Ihre Bank bittet um Bestätigung",
            paragraphs: &[
                "Ihre Bank bittet Sie, die Zahlung von {amount} für Ihr {company}-Abonnement zu bestätigen.",
                "Das geht schnell: Folgen Sie dem Link und geben Sie die Zahlung bei Ihrer Bank frei.",
            ],
            action: Some("Zahlung bestätigen"),
        },
        Message::CardUpdated => Copy {
            subject: "Danke – Ihre Karte für {company} ist aktualisiert",
            heading: "Danke für die Aktualisierung Ihrer Karte",
            paragraphs: &[
                "Ihre neue Karte ist gespeichert. Wir ziehen die offenen {amount} jetzt ein; Sie müssen nichts weiter tun.",
            ],
            action: None,
        },
        Message::PaymentReceived => Copy {
            subject: "Zahlung erhalten – vielen Dank",
            heading: "Zahlung erhalten",
            paragraphs: &[
                "Wir haben Ihre Zahlung von {amount} erhalten. Ihr {company}-Abonnement ist wieder auf dem neuesten Stand. Vielen Dank!",
            ],
            action: None,
        },
        Message::SubscriptionCancelled => Copy {
            subject: "Ihr {company}-Abonnement wurde gekündigt",
            heading: "Ihr Abonnement wurde gekündigt",
            paragraphs: &[
                "Da die Zahlung von {amount} nicht eingezogen werden konnte, wurde Ihr {company}-Abonnement gekündigt.",
                "Sie sind jederzeit wieder willkommen. Falls Sie glauben, dass es sich um einen Irrtum handelt, antworten Sie einfach auf diese E-Mail.",
            ],
            action: None,
        },
        Message::CardExpiring => Copy {
            subject: "Ihre Karte für {company} läuft bald ab",
            heading: "Ihre Karte läuft bald ab",
            paragraphs: &[
                "Die Karte, mit der Sie Ihr {company}-Abonnement bezahlen, läuft am {date} ab.",
                "Aktualisieren Sie sie jetzt, damit Ihre nächste Zahlung ohne Unterbrechung durchgeht.",
            ],
            action: Some("Karte aktualisieren"),
        },
    }
}

fn es(m: Message) -> Copy {
    match m {
        Message::Failed => Copy {
            subject: "Tu pago a {company} no se ha completado",
            heading: "Tu pago no se ha completado",
            paragraphs: &[
                "Intentamos cobrar {amount} por tu suscripción a {company}, pero el pago no se ha completado. Son cosas que pasan: una tarjeta caduca, un banco es prudente.",
                "Revisar o actualizar tu tarjeta lleva un minuto, y tu suscripción sigue como siempre.",
            ],
            action: Some("Actualizar mi tarjeta"),
        },
        Message::Reminder => Copy {
            subject: "Recordatorio: sigues debiendo {amount} a {company}",
            heading: "Tu pago sigue pendiente",
            paragraphs: &[
                "Todavía no hemos podido cobrar {amount} por tu suscripción a {company}.",
                "Actualiza tu tarjeta para que tu servicio continúe sin interrupciones.",
            ],
            action: Some("Actualizar mi tarjeta"),
        },
        Message::Firm => Copy {
            subject: "Acción necesaria: tu suscripción a {company} se cancelará el {date}",
            heading: "Tu suscripción está en riesgo",
            paragraphs: &[
                "El pago de {amount} de tu suscripción a {company} sigue pendiente tras varios intentos.",
                "Si no se abona antes del {date}, tu suscripción se cancelará. Si actualizas tu tarjeta ahora, queda resuelto al momento.",
            ],
            action: Some("Pagar {amount} ahora"),
        },
        Message::Final => Copy {
            subject: "Último aviso: tu suscripción a {company} termina el {date}",
            heading: "Último aviso",
            paragraphs: &[
                "Este es nuestro último recordatorio: {amount} de tu suscripción a {company} siguen sin pagarse.",
                "El {date} se cancelará tu suscripción. Para mantenerla, actualiza tu tarjeta antes de esa fecha.",
            ],
            action: Some("Mantener mi suscripción"),
        },
        Message::UpdateCard => Copy {
            subject: "Actualiza tu tarjeta para {company}",
            heading: "Tu tarjeta ha sido rechazada",
            paragraphs: &[
                "Tu banco ha rechazado el pago de {amount} de tu suscripción a {company}, y volver a intentarlo con la misma tarjeta no servirá.",
                "Añade una tarjeta nueva para que tu suscripción continúe.",
            ],
            action: Some("Añadir una tarjeta"),
        },
        Message::ConfirmPayment => Copy {
            subject: "Confirma tu pago a {company}",
            heading: "Tu banco necesita tu confirmación",
            paragraphs: &[
                "Tu banco te pide que confirmes el pago de {amount} de tu suscripción a {company}.",
                "Es rápido: sigue el enlace y aprueba el pago con tu banco.",
            ],
            action: Some("Confirmar el pago"),
        },
        Message::CardUpdated => Copy {
            subject: "Gracias: tu tarjeta para {company} está actualizada",
            heading: "Gracias por actualizar tu tarjeta",
            paragraphs: &[
                "Hemos guardado tu nueva tarjeta. Ahora cobramos los {amount} pendientes; no tienes que hacer nada más.",
            ],
            action: None,
        },
        Message::PaymentReceived => Copy {
            subject: "Pago recibido: gracias",
            heading: "Pago recibido",
            paragraphs: &[
                "Hemos recibido tu pago de {amount}. Tu suscripción a {company} está al día. ¡Gracias!",
            ],
            action: None,
        },
        Message::SubscriptionCancelled => Copy {
            subject: "Tu suscripción a {company} ha sido cancelada",
            heading: "Tu suscripción ha sido cancelada",
            paragraphs: &[
                "Como no hemos podido cobrar el pago de {amount}, tu suscripción a {company} ha sido cancelada.",
                "Puedes volver cuando quieras. Si crees que se trata de un error, responde a este correo.",
            ],
            action: None,
        },
        Message::CardExpiring => Copy {
            subject: "Tu tarjeta para {company} caduca pronto",
            heading: "Tu tarjeta está a punto de caducar",
            paragraphs: &[
                "La tarjeta con la que pagas tu suscripción a {company} caduca el {date}.",
                "Actualízala ahora y tu próximo pago se hará sin interrupciones.",
            ],
            action: Some("Actualizar mi tarjeta"),
        },
    }
}
