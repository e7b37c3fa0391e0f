"""Every word the console shows, in French (first) and English: one pair per entry, so neither can be missing.

Texts are keyed by a dotted name; codes of the public contract (statuses, services, categories, …) by code family.
Placeholders use `str.format` names (`{count}`)."""

from __future__ import annotations

Pair = tuple[str, str]
"""(French, English)"""

TEXTS: dict[str, Pair] = {
    # layout
    "app.name": ("Console RLS", "RLS console"),
    "app.skip": ("Aller au contenu", "Skip to content"),
    "app.nav": ("Navigation principale", "Main navigation"),
    "app.signed_in_as": ("Connecté : {sub} — {org}", "Signed in: {sub} — {org}"),
    "app.roles": ("Rôles : {roles}", "Roles: {roles}"),
    "app.sign_out": ("Se déconnecter", "Sign out"),
    "app.sign_out_everywhere": ("Fermer toutes mes sessions", "End all my sessions"),
    "app.language": ("Langue", "Language"),
    "app.other_language": ("English", "Français"),
    "app.footer": (
        "Aucune donnée n'est conservée par la console : chaque page est lue dans les services, avec vos droits.",
        "The console keeps no data: every page is read from the services, with your rights.",
    ),
    "nav.worklist": ("Demandes", "Referrals"),
    "nav.new": ("Nouvelle demande", "New referral"),
    "nav.agreements": ("Ententes", "Agreements"),
    "nav.integrity": ("Intégrité", "Integrity"),
    "nav.report": ("Rapport de conformité", "Compliance report"),
    "nav.register": ("Registre des communications", "Disclosure register"),
    "nav.trail": ("Journal d'audit", "Audit trail"),
    "common.none": ("aucun", "none"),
    "common.yes": ("oui", "yes"),
    "common.no": ("non", "no"),
    "common.filter": ("Filtrer", "Filter"),
    "common.all": ("Tous", "All"),
    "common.next_page": ("Page suivante", "Next page"),
    "common.back": ("Retour", "Back"),
    "common.required": ("obligatoire", "required"),
    "common.optional": ("facultatif", "optional"),
    "common.from": ("Du", "From"),
    "common.to": ("Au", "To"),
    "common.show": ("Afficher", "Show"),
    # sign-in
    "signin.title": ("Connexion", "Sign in"),
    "signin.oidc": (
        "Se connecter avec le fournisseur d'identité de mon organisation",
        "Sign in with my organisation's identity provider",
    ),
    "signin.dev.title": ("Connexion de développement", "Development sign-in"),
    "signin.dev.help": (
        "Mode développement seulement : choisissez une organisation de démonstration et des rôles. Le jeton est "
        "signé avec la clé de développement de la plateforme, comme le fait « rls token ».",
        "Development mode only: choose a demo organisation and roles. The token is signed with the platform's "
        "development key, as `rls token` does.",
    ),
    "signin.dev.org": ("Organisation", "Organisation"),
    "signin.dev.roles": ("Rôles", "Roles"),
    "signin.dev.sub": ("Nom d'utilisateur", "User name"),
    "signin.dev.submit": ("Se connecter", "Sign in"),
    "signin.required": ("Veuillez vous connecter.", "Please sign in."),
    "signin.expired": ("Votre session a expiré : veuillez vous reconnecter.", "Your session expired: sign in again."),
    "signin.failed": ("La connexion a échoué : {reason}", "Sign-in failed: {reason}"),
    "signin.no_roles": ("Choisissez au moins un rôle.", "Choose at least one role."),
    "signin.unknown_org": ("Organisation inconnue.", "Unknown organisation."),
    "signin.signed_out": ("Vous êtes déconnecté.", "You are signed out."),
    "signin.oidc.state": (
        "la réponse du fournisseur ne correspond pas à la demande de connexion (recommencez)",
        "the provider's answer does not match the sign-in request (start again)",
    ),
    "signin.oidc.denied": ("le fournisseur a refusé la connexion ({error})", "the provider refused ({error})"),
    "signin.oidc.token": ("le jeton reçu est invalide ({error})", "the token received is invalid ({error})"),
    "signin.oidc.unreachable": ("le fournisseur d'identité ne répond pas", "the identity provider does not answer"),
    "signin.oidc.claims": (
        "le jeton n'indique pas votre organisation (org) ou vos rôles (roles)",
        "the token does not state your organisation (org) or roles (roles)",
    ),
    # roles
    "role.intake": ("accueil", "intake"),
    "role.clinician": ("intervenant", "clinician"),
    "role.coordinator": ("coordonnateur", "coordinator"),
    "role.auditor": ("vérificateur", "auditor"),
    "role.admin": ("administrateur", "admin"),
    "role.network-auditor": ("vérificateur du réseau", "network auditor"),
    # worklist
    "worklist.title": ("Demandes de services", "Referrals"),
    "worklist.received": ("Reçues", "Received"),
    "worklist.sent": ("Envoyées", "Sent"),
    "worklist.all": ("Toutes (vérification)", "All (audit)"),
    "worklist.direction": ("Sens", "Direction"),
    "worklist.status": ("Statut", "Status"),
    "worklist.service": ("Service", "Service"),
    "worklist.urgency": ("Urgence", "Urgency"),
    "worklist.empty": ("Aucune demande ne correspond à ces filtres.", "No referral matches these filters."),
    "worklist.count": ("{count} demande(s)", "{count} referral(s)"),
    "worklist.col.submitted": ("Soumise", "Submitted"),
    "worklist.col.from": ("De", "From"),
    "worklist.col.to": ("Vers", "To"),
    "worklist.col.clock": ("Délai qui compte le plus", "Clock that matters most"),
    "worklist.col.open": ("Demande", "Referral"),
    "worklist.open": ("Ouvrir", "Open"),
    "worklist.caption": (
        "Demandes, la plus pressante en premier ; le délai indiqué est celui de votre organisation.",
        "Referrals, most pressing first; the clock shown is your organisation's.",
    ),
    # clocks
    "clock.left": ("{time} restant", "{time} left"),
    "clock.overdue": ("dépassé de {time}", "{time} overdue"),
    "clock.met": ("respecté", "met"),
    "clock.none": ("aucun délai en cours", "no clock running"),
    "clock.due": ("échéance {at}", "due {at}"),
    "clock.standard": ("Norme", "Standard"),
    "clock.bound": ("Délai", "Bound"),
    "clock.started": ("Début", "Started"),
    "clock.due_at": ("Échéance", "Due"),
    "clock.met_at": ("Respecté le", "Met at"),
    "clock.state": ("État", "State"),
    "clock.responsible": ("Responsable", "Responsible"),
    # referral page
    "referral.title": ("Demande {short}", "Referral {short}"),
    "referral.summary": ("Résumé", "Summary"),
    "referral.subject": ("Personne (identifiant pseudonyme)", "Person (pseudonymous id)"),
    "referral.from": ("Organisation qui réfère", "Referring organisation"),
    "referral.to": ("Organisation qui reçoit", "Receiving organisation"),
    "referral.channel": ("Canal", "Channel"),
    "referral.urgency": ("Urgence", "Urgency"),
    "referral.reason": ("Motif", "Reason"),
    "referral.accompaniment": ("Accompagnement", "Accompaniment"),
    "referral.agreement": ("Entente", "Agreement"),
    "referral.orientation_only": (
        "aucune entente ne couvre cette demande : orientation seulement",
        "no agreement covers this referral: orientation only",
    ),
    "referral.version": ("Version", "Version"),
    "referral.timeline": ("Historique", "Timeline"),
    "referral.clocks": ("Délais (normes d'accès)", "Delay standards"),
    "referral.no_clocks": ("Aucune norme de délai ne s'applique.", "No delay standard applies."),
    "referral.actions": ("Actions possibles", "Possible actions"),
    "referral.no_actions": (
        "Aucune action n'est possible pour votre organisation dans ce statut.",
        "Your organisation can take no action in this status.",
    ),
    "referral.at": ("Quand (facultatif, par défaut : maintenant)", "When (optional, default: now)"),
    "referral.done": ("Action enregistrée : {action}.", "Action recorded: {action}."),
    "referral.conflict.title": ("Quelqu'un a modifié cette demande", "Someone changed this referral"),
    "referral.conflict.body": (
        "Votre action « {action} » n'a pas été appliquée : la demande a changé depuis que vous l'avez ouverte "
        "(version {yours} → {theirs}). Elle est maintenant « {status} » ; dernière étape : {step} ({at}). "
        "Vérifiez ci-dessous et recommencez si l'action est toujours nécessaire.",
        "Your action “{action}” was not applied: the referral changed since you opened it (version {yours} → "
        "{theirs}). It is now “{status}”; last step: {step} ({at}). Check below and try again if the action "
        "is still needed.",
    ),
    "referral.impossible": (
        "L'action « {action} » n'a pas été appliquée (statut « {status} ») : {reason}.",
        "The action “{action}” was not applied (status “{status}”): {reason}.",
    ),
    # actions
    "action.receive": ("Accuser réception", "Acknowledge receipt"),
    "action.callback": ("Rappel fait", "Called back"),
    "action.analyse": ("Analyse terminée", "Analysis completed"),
    "action.accept": ("Accepter", "Accept"),
    "action.refuse": ("Refuser", "Refuse"),
    "action.redirect": ("Rediriger", "Redirect"),
    "action.meetings": ("Consigner une rencontre", "Record a meeting"),
    "action.first-contact": ("Premier contact fait", "First contact made"),
    "action.start-follow-up": ("Suivi commencé", "Follow-up started"),
    "action.close": ("Fermer", "Close"),
    "action.cancel": ("Annuler la demande", "Cancel the referral"),
    "field.reason": ("Motif du refus", "Reason for refusal"),
    "field.outcome": ("Résultat (code, p. ex. SERVICES_RENDERED)", "Outcome (code, e.g. SERVICES_RENDERED)"),
    "field.to_org": ("Nouvelle organisation (identifiant)", "New organisation (id)"),
    "field.to_service": ("Nouveau service", "New service"),
    "field.mode": ("Mode de la rencontre", "Meeting mode"),
    "field.at": ("Date et heure", "Date and time"),
    # information through the consent gate
    "info.title": ("Renseignements du dossier", "Record information"),
    "info.help": (
        "Les renseignements ne sont communiqués que si le service de consentement le permet ; chaque communication "
        "est inscrite au registre. Cochez seulement ce qui est nécessaire.",
        "Information is released only when the consent service permits it; every disclosure is entered in the "
        "register. Tick only what is necessary.",
    ),
    "info.categories": ("Catégories demandées", "Categories requested"),
    "info.submit": ("Demander ces renseignements", "Request this information"),
    "info.no_category": ("Choisissez au moins une catégorie.", "Choose at least one category."),
    "info.receiver_only": (
        "Seule l'organisation qui reçoit la demande peut lire les renseignements du dossier.",
        "Only the receiving organisation reads record information.",
    ),
    "info.denied.title": ("Communication refusée", "Disclosure denied"),
    "info.denied.lead": ("Rien n'a été communiqué.", "Nothing was disclosed."),
    "info.permitted.title": ("Communication permise", "Disclosure permitted"),
    "info.partial.title": ("Communication permise en partie", "Disclosure partly permitted"),
    "info.denied_categories": ("Catégories refusées", "Categories denied"),
    "info.why": ("Pourquoi", "Why"),
    "info.basis": ("Fondement juridique", "Legal basis"),
    "info.basis.route": ("Voie", "Route"),
    "info.basis.article": ("Article", "Article"),
    "info.basis.regime": ("Régime", "Regime"),
    "info.basis.consent": ("Consentement", "Consent"),
    "info.basis.agreement": ("Entente", "Agreement"),
    "info.basis.status": ("Statut de la règle", "Rule status"),
    "info.obligations": ("Obligations", "Obligations"),
    "info.decision": ("Décision {id}", "Decision {id}"),
    "info.register_entry": ("Inscription au registre {id}", "Register entry {id}"),
    "info.erased": (
        "Les renseignements de cette personne ont été effacés.",
        "This person's information was erased.",
    ),
    "info.undecided": (
        "Le service de consentement n'a rendu aucune décision pour {categories} : rien n'a été communiqué pour "
        "ces catégories; une nouvelle demande les lui soumettra.",
        "The consent service gave no decision on {categories}: nothing was disclosed for them; a new request asks "
        "it again.",
    ),
    "info.none.title": ("Aucun renseignement à communiquer", "Nothing to disclose"),
    "info.none": (
        "Le dossier ne contient aucune des catégories demandées : rien n'a été demandé au service de consentement "
        "ni inscrit au registre.",
        "The referral holds none of the categories requested: nothing was asked of the consent service nor entered "
        "in the register.",
    ),
    "info.ended": (
        "Cette demande est au statut « {status} » : ses renseignements ne sont communiqués que tant qu'elle est en "
        "cours (ni refusée, ni annulée, ni fermée).",
        "This referral's status is “{status}”: its information is released only while it is under way (neither "
        "refused, cancelled nor closed).",
    ),
    # consent form
    "consent.title": ("Consigner un consentement", "Record a consent"),
    "consent.help": (
        "Le consentement de la personne (ou de qui peut consentir pour elle) permet ensuite de communiquer les "
        "catégories qu'il nomme à l'organisation qui reçoit la demande.",
        "The person's consent (or that of who may consent for them) then lets the categories it names be "
        "disclosed to the receiving organisation.",
    ),
    "consent.birth_date": ("Date de naissance de la personne", "The person's date of birth"),
    "consent.grantor": ("Consentement donné par", "Consent given by"),
    "consent.method": ("Forme du consentement", "How consent was given"),
    "consent.purposes": ("Fins", "Purposes"),
    "consent.categories": ("Catégories consenties", "Categories consented to"),
    "consent.valid_until": ("Valide jusqu'au (inclus)", "Valid until (included)"),
    "consent.recipient": ("Destinataire : {org}", "Recipient: {org}"),
    "consent.submit": ("Consigner le consentement", "Record the consent"),
    "consent.recorded": ("Consentement consigné ({id}).", "Consent recorded ({id})."),
    "consent.scope": ("Portée du mandat", "Mandate covers"),
    "consent.scope.help": (
        "Obligatoire si le consentement est donné par un tuteur, un curateur, un mandataire ou la personne qui "
        "consent aux soins : cochez les fins que couvre son mandat. Le consentement ne vaut que pour ces fins.",
        "Required when the consent is given by a tutor, a curator, a mandatary or the person who may consent to "
        "care: check the purposes their mandate covers. The consent counts only for those purposes.",
    ),
    "consent.disclosers": ("Organisations qui communiquent", "Organisations that communicate"),
    "consent.disclosers.help": (
        "Cochez l'organisation que la personne autorise à communiquer les renseignements au destinataire. "
        "L'organisation qui consigne le consentement le peut toujours; une autre, seulement si elle est cochée.",
        "Check the organisation the person authorises to communicate the information to the recipient. The "
        "organisation recording the consent always may; another one only when it is checked.",
    ),
    "consent.mandate_ref": ("Référence du jugement ou du mandat", "Judgment or mandate reference"),
    # new referral
    "new.title": ("Nouvelle demande de services", "New referral"),
    "new.target": ("1. Organisation et service visés", "1. Target organisation and service"),
    "new.target.help": (
        "Choisissez le service recherché : le répertoire indique les organisations qui l'offrent et l'entente en "
        "vigueur avec chacune.",
        "Choose the service sought: the directory lists the organisations offering it and the agreement in force "
        "with each.",
    ),
    "new.territory": ("Territoire (facultatif)", "Territory (optional)"),
    "new.search": ("Chercher dans le répertoire", "Search the directory"),
    "new.no_target": ("Aucune organisation n'offre ce service ici.", "No organisation offers this service here."),
    "new.coverage.none": ("aucune entente : orientation seulement", "no agreement: orientation only"),
    "new.coverage.in_force": ("entente en vigueur : {title}", "agreement in force: {title}"),
    "new.coverage.on_behalf": ("services rendus au nom de votre établissement", "services on your behalf"),
    "new.details": ("2. La demande", "2. The referral"),
    "new.subject": ("Identifiant pseudonyme de la personne", "The person's pseudonymous id"),
    "new.from_service": ("Votre service", "Your service"),
    "new.to_org": ("Organisation visée", "Target organisation"),
    "new.channel": ("Canal", "Channel"),
    "new.urgency": ("Urgence", "Urgency"),
    "new.reason": ("Motif (code)", "Reason (code)"),
    "new.accompaniment": ("Accompagnement", "Accompaniment"),
    "new.information": (
        "3. Renseignements du dossier (chiffrés, communiqués seulement si permis)",
        "3. Record information (encrypted, released only when permitted)",
    ),
    "new.information.help": (
        "Facultatif. Ces renseignements sont chiffrés et ne quittent le service que par la porte du consentement.",
        "Optional. This information is encrypted and leaves the service only through the consent gate.",
    ),
    "new.submit": ("Soumettre la demande", "Submit the referral"),
    "new.submitted": ("Demande soumise.", "Referral submitted."),
    "new.choose_service_first": ("Choisissez d'abord le service visé.", "Choose the target service first."),
    # agreements
    "agreements.title": ("Ententes de mon organisation", "My organisation's agreements"),
    "agreements.empty": ("Aucune entente.", "No agreement."),
    "agreements.kind": ("Type", "Kind"),
    "agreements.status": ("Statut", "Status"),
    "agreements.parties": ("Parties", "Parties"),
    "agreements.term": ("Durée", "Term"),
    "agreements.review": ("Prochaine révision", "Next review"),
    "agreements.review_due": ("révision due", "review due"),
    "agreements.volumes": ("Volumes utilisés cette année", "Volumes used this year"),
    "agreements.volume_line": (
        "{service} : {used} sur {per_year} ({percent} %)",
        "{service}: {used} of {per_year} ({percent} %)",
    ),
    "agreements.no_volume": ("aucun volume convenu", "no agreed volume"),
    "agreements.open_ended": ("sans fin", "open-ended"),
    # audit
    "integrity.title": ("Intégrité des registres d'événements", "Integrity of the event stores"),
    "integrity.help": (
        "Chaque événement est scellé et chaîné ; les têtes de chaîne sont publiées régulièrement (points de "
        "contrôle). La vérification relit chaque registre et le compare aux points de contrôle publiés.",
        "Every event is sealed and chained; chain heads are published regularly (checkpoints). Verification "
        "reads every store again and compares it with the published checkpoints.",
    ),
    "integrity.run": ("Vérifier maintenant", "Verify now"),
    "integrity.last": (
        "Dernière vérification : {at} par {who} — {outcome}",
        "Last verification: {at} by {who} — {outcome}",
    ),
    "integrity.never": ("Aucune vérification au journal.", "No verification in the trail."),
    "integrity.store": ("Registre", "Store"),
    "integrity.ok": ("Intègre", "Intact"),
    "integrity.events": ("Événements", "Events"),
    "integrity.sealed": ("Scellés", "Sealed"),
    "integrity.checkpoints": ("Points de contrôle concordants", "Checkpoints matched"),
    "integrity.last_checkpoint": ("Dernier point de contrôle", "Last checkpoint"),
    "integrity.finding": ("Premier constat", "First finding"),
    "integrity.overall.ok": ("Tous les registres sont intègres.", "Every store is intact."),
    "integrity.overall.failed": ("Au moins un registre n'est pas intègre.", "At least one store is not intact."),
    "integrity.acknowledged": (
        "Registre retiré reconnu : {store_id} ({checkpoints} points de contrôle, reconnaissance {id})",
        "Acknowledged retired store: {store_id} ({checkpoints} checkpoints, acknowledgement {id})",
    ),
    "integrity.acknowledge.title": ("Reconnaître un registre retiré", "Acknowledge a retired store"),
    "integrity.acknowledge.help": (
        "Si ce registre a été recréé légitimement (base de données réinstallée, migration planifiée), dites "
        "pourquoi : ses points de contrôle ne seront plus des constats, mais des notes. La reconnaissance est "
        "conservée au registre d'audit et ne peut pas être supprimée.",
        "If this store was re-created lawfully (database re-installed, planned migration), say why: its "
        "checkpoints will no longer be findings, but notes. The acknowledgement is kept in the audit store and "
        "cannot be deleted.",
    ),
    "integrity.acknowledge.store": ("Registre {store_id} ({application})", "Store {store_id} ({application})"),
    "integrity.acknowledge.reason": ("Motif", "Reason"),
    "integrity.acknowledge.store_id": ("Registre retiré", "Retired store"),
    "integrity.acknowledge.application": ("Application", "Application"),
    "integrity.acknowledge.submit": ("Reconnaître ce registre retiré", "Acknowledge this retired store"),
    "integrity.acknowledge.done": (
        "Reconnaissance {id} enregistrée. Vérifiez de nouveau pour voir les constats qui restent.",
        "Acknowledgement {id} recorded. Verify again to see the findings that remain.",
    ),
    "report.title": ("Rapport de conformité du réseau", "Network compliance report"),
    "report.replay": (
        "Base d'audit reconstruite le {at} ({events} événements, jusqu'au {until}).",
        "Audit database rebuilt on {at} ({events} events, until {until}).",
    ),
    "report.no_replay": (
        "La base d'audit n'a pas encore été reconstruite (« rls audit replay »).",
        "The audit database has not been rebuilt yet (`rls audit replay`).",
    ),
    "report.frame": ("Rapport de conformité du {start} au {end}", "Compliance report from {start} to {end}"),
    "report.open": ("Ouvrir le rapport seul (à imprimer ou à transmettre)", "Open the report alone (to print or send)"),
    "register.title": ("Registre des communications", "Disclosure register"),
    "register.subject": ("Personne (identifiant pseudonyme)", "Person (pseudonymous id)"),
    "register.recipient": ("Organisation destinataire", "Recipient organisation"),
    "register.empty": ("Aucune inscription ne correspond.", "No entry matches."),
    "register.at": ("Date", "Date"),
    "register.discloser": ("Communiqué par", "Disclosed by"),
    "register.categories": ("Catégories", "Categories"),
    "register.purpose": ("Fin", "Purpose"),
    "register.basis": ("Fondement", "Basis"),
    "register.superseded": ("régime remplacé à cette date", "regime superseded at that date"),
    "trail.title": ("Journal d'audit : qui a consulté quoi, et quand", "Audit trail: who looked at what, when"),
    "trail.who": ("Qui", "Who"),
    "trail.action": ("Action", "Action"),
    "trail.target": ("Cible", "Target"),
    "trail.outcome": ("Résultat", "Outcome"),
    "trail.empty": ("Le journal est vide.", "The trail is empty."),
    # errors
    "error.title": ("Un problème est survenu", "Something went wrong"),
    "error.form": (
        "La demande n'a pas été acceptée : corrigez les champs indiqués.",
        "Not accepted: fix the fields shown.",
    ),
    "error.field": ("{field} : {message}", "{field}: {message}"),
    "error.forbidden": ("Vos rôles ne permettent pas cette page ou cette action.", "Your roles do not allow this."),
    "error.not_found": ("Introuvable (ou non visible pour votre organisation).", "Not found (or not visible to you)."),
    "error.method": (
        "Cette adresse ne s'ouvre pas ainsi : revenez à la page précédente.",
        "This address does not open this way: go back to the previous page.",
    ),
    "error.request": ("La console n'a pas pu lire cette demande.", "The console could not read this request."),
    "error.unavailable": (
        "Le service « {service} » ne répond pas pour le moment. Réessayez dans un instant.",
        "The {service} service does not answer right now. Try again in a moment.",
    ),
    "error.csrf": (
        "Le formulaire a expiré ou ne vient pas de cette console. Rechargez la page et recommencez.",
        "The form expired or did not come from this console. Reload the page and try again.",
    ),
    "error.query": ("Paramètres invalides : {fields}.", "Invalid parameters: {fields}."),
    "error.query_field": ("{field} — {message}", "{field} — {message}"),
    "error.cross_site": (
        "Cette page a été demandée depuis un autre site. Sa consultation est inscrite au journal d'audit : "
        "ouvrez-la seulement si vous le voulez.",
        "This page was requested from another site. Reading it is entered in the audit trail: open it only if you "
        "mean to.",
    ),
    "error.continue": ("Ouvrir la page", "Open the page"),
    "error.form_value": (
        "La valeur du champ « {field} » n'est pas valide.",
        "The value of the field “{field}” is not valid.",
    ),
    "error.too_large": (
        "Le formulaire envoyé est trop volumineux : il n'a pas été lu. Raccourcissez les textes et recommencez.",
        "The form sent is too large: it was not read. Shorten the texts and try again.",
    ),
    "error.api": ("Le service a répondu : {title}.", "The service answered: {title}."),
    # a service's problem document (its `type` slug), in the user's language: never the service's English text to a
    # French user; what the catalogue does not know is said by its HTTP status (`problem.status.<status>`), and in
    # English only, with the service's own words (`{detail}`)
    "problem.transition-impossible": (
        "cette étape n'est pas permise dans ce statut, ou elle est déjà inscrite pour l'organisation qui a la demande",
        "this step is not allowed in this status, or it is already recorded for the organisation holding the referral",
    ),
    "problem.version-conflict": (
        "la fiche a changé depuis que vous l'avez ouverte : rechargez la page",
        "the record changed since you opened it: reload the page",
    ),
    "problem.idempotency-key-reused": (
        "ce formulaire a déjà été envoyé avec d'autres valeurs : rechargez la page et recommencez",
        "this form was already sent with other values: reload the page and try again",
    ),
    "problem.unknown-organisation": (
        "le répertoire ne connaît pas l'organisation destinataire",
        "the directory does not know the receiving organisation",
    ),
    "problem.dependency-unavailable": (
        "un service dont cette demande a besoin ne répond pas ; réessayez dans quelques minutes",
        "a service this request needs does not answer: try again in a few minutes",
    ),
    "problem.disclosure-rejected": (
        "le service des consentements a refusé la demande telle qu'elle est formulée",
        "the consent service rejected the request as it was made",
    ),
    "problem.information-erased": (
        "les renseignements de cette personne ont été effacés",
        "this person's information was erased",
    ),
    "problem.content-too-large": ("l'envoi est trop volumineux", "what was sent is too large"),
    "problem.status.400": ("la requête n'est pas valide", "the request is not valid ({detail})"),
    "problem.status.401": ("votre session a pris fin : reconnectez-vous", "your session ended: sign in again"),
    "problem.status.403": (
        "votre organisation ou vos rôles ne le permettent pas",
        "your organisation or roles do not allow it ({detail})",
    ),
    "problem.status.404": ("introuvable, ou vous n'y avez pas accès", "not found, or not open to you ({detail})"),
    "problem.status.409": (
        "ce n'est pas possible dans l'état actuel de la fiche : rechargez la page",
        "not possible in the record's current state ({detail})",
    ),
    "problem.status.410": ("ces renseignements n'existent plus", "this information no longer exists ({detail})"),
    "problem.status.412": (
        "la fiche a changé depuis que vous l'avez ouverte : rechargez la page",
        "the record changed since you opened it ({detail})",
    ),
    "problem.status.413": ("l'envoi est trop volumineux", "what was sent is too large ({detail})"),
    "problem.status.422": (
        "le service a refusé les valeurs envoyées : vérifiez-les et recommencez",
        "the service refused the values sent ({detail})",
    ),
    "problem.status.428": (
        "la version de la fiche manque : rechargez la page",
        "the record's version is missing ({detail})",
    ),
    "problem.status.429": (
        "trop de demandes en peu de temps : réessayez dans une minute",
        "too many requests: try again in a minute ({detail})",
    ),
    "problem.status.5xx": (
        "le service a rencontré une erreur ou ne répond pas ; réessayez dans quelques minutes",
        "the service failed or does not answer: try again in a few minutes ({detail})",
    ),
    "problem.default": ("le service a refusé la demande", "the service refused the request ({detail})"),
    "error.internal": ("Erreur interne : l'équipe a été avertie.", "Internal error: the team was told."),
    # validation messages by error type (the API's problem+json `errors[].type`)
    "invalid.missing": ("ce champ est obligatoire", "this field is required"),
    "invalid.string_pattern_mismatch": ("le format n'est pas valide", "the format is not valid"),
    "invalid.subject_id_nam": (
        "doit être un identifiant pseudonyme, pas un numéro d'assurance maladie (NAM)",
        "must be a pseudonymous id, not a health insurance number (NAM)",
    ),
    "invalid.enum": ("cette valeur n'est pas permise", "this value is not allowed"),
    "invalid.string_too_short": ("ce champ est obligatoire", "this field is required"),
    "invalid.string_too_long": ("le texte est trop long", "the text is too long"),
    "invalid.too_short": ("choisissez au moins un élément", "choose at least one item"),
    "invalid.date_from_datetime_parsing": ("date invalide", "invalid date"),
    "invalid.date_parsing": ("date invalide", "invalid date"),
    "invalid.datetime_parsing": ("date et heure invalides", "invalid date and time"),
    "invalid.default": ("valeur refusée", "value refused ({message})"),
    # the same, for one field: invalid.<form field>.<type> (the consent service's own checks are of type `validation`)
    "invalid.granted_by.scope.validation": (
        "un représentant ne consent que dans les limites de son mandat : cochez les fins que couvre le mandat",
        "a representative consents only within their mandate: check the purposes the mandate covers",
    ),
    "invalid.granted_by.role.validation": (
        "ne peut pas consentir pour la personne à son âge quand le consentement est donné ou quand il commence "
        "(14 ans et plus : la personne elle-même ; moins de 14 ans : le titulaire de l'autorité parentale ou le "
        "tuteur ; majeur inapte : son tuteur, curateur, mandataire ou la personne qui consent aux soins) ; "
        "vérifiez aussi la date de naissance",
        "may not consent for the person at their age when the consent is given or when it starts (14 or older: "
        "the person themself; under 14: the holder of parental authority or the tutor; an inapt adult: their "
        "tutor, curator, mandatary or the person who may consent to care); check the date of birth too",
    ),
    # the services' own checks on a field (type `validation`: their domain errors naming the field)
    "invalid.at.validation": (
        "ne peut être ni dans le futur ni avant l'étape précédente de la demande",
        "can be neither in the future nor before the referral's previous step",
    ),
    "invalid.to_service.validation": (
        "l'organisation destinataire n'offre pas ce service",
        "the receiving organisation does not offer this service",
    ),
    "invalid.to_org.validation": (
        "la demande est déjà adressée à ce service de cette organisation",
        "the referral is already addressed to this organisation's service",
    ),
    "invalid.agreement_id.validation": (
        "cette entente ne couvre pas la demande maintenant",
        "this agreement does not cover the referral now",
    ),
    "invalid.reason_code.validation": ("ce code de motif est inconnu", "this reason code is unknown"),
    "invalid.subject_birth_date.validation": (
        "ne peut pas être dans le futur, ni après le début du consentement",
        "cannot be in the future, nor after the consent's start",
    ),
    "invalid.valid_until.validation": (
        "doit être après le début du consentement (aujourd'hui)",
        "must be after the consent's start (today)",
    ),
    "invalid.granted_by.mandate_ref.string_pattern_mismatch": (
        "un numéro (lettres, chiffres, espaces et - . / : # _), pas une description",
        "a number (letters, digits, spaces and - . / : # _), not a description",
    ),
}

CODES: dict[str, dict[str, Pair]] = {
    "ReferralStatus": {
        "SUBMITTED": ("Soumise", "Submitted"),
        "RECEIVED": ("Reçue", "Received"),
        "ANALYSED": ("Analysée", "Analysed"),
        "ACCEPTED": ("Acceptée", "Accepted"),
        "REFUSED": ("Refusée", "Refused"),
        "REDIRECTED": ("Redirigée", "Redirected"),
        "FIRST_CONTACT_MADE": ("Premier contact fait", "First contact made"),
        "FOLLOW_UP_STARTED": ("Suivi commencé", "Follow-up started"),
        "CLOSED": ("Fermée", "Closed"),
        "CANCELLED": ("Annulée", "Cancelled"),
    },
    "Step": {
        "submitted": ("soumise", "submitted"),
        "received": ("réception confirmée", "received"),
        "called-back": ("rappel fait", "called back"),
        "analysed": ("analyse terminée", "analysed"),
        "accepted": ("acceptée", "accepted"),
        "refused": ("refusée", "refused"),
        "redirected": ("redirigée", "redirected"),
        "first-contact-made": ("premier contact fait", "first contact made"),
        "follow-up-started": ("suivi commencé", "follow-up started"),
        "closed": ("fermée", "closed"),
        "cancelled": ("annulée", "cancelled"),
        "meeting-recorded": ("rencontre consignée", "meeting recorded"),
    },
    "ServiceCode": {
        "AAOR": ("Accueil, analyse, orientation et référence (AAOR)", "Intake, analysis, orientation, referral (AAOR)"),
        "INFO_SOCIAL": ("Info-Social", "Info-Social"),
        "CRISIS_24_7": ("Intervention de crise 24/7", "Crisis intervention 24/7"),
        "SOCIAL_CONSULT": ("Consultation sociale", "Social consultation"),
        "PSYCH_CONSULT": ("Consultation psychologique", "Psychological consultation"),
        "CIVIL_SECURITY": ("Sécurité civile", "Civil security"),
        "SPECIFIC_SERVICES": ("Services spécifiques", "Specific services"),
        "SPECIALISED_SERVICES": ("Services spécialisés", "Specialised services"),
        "COMMUNITY_SERVICE": ("Service communautaire", "Community service"),
    },
    "Channel": {
        "IN_PERSON": ("En personne", "In person"),
        "PHONE": ("Téléphone", "Phone"),
        "ELECTRONIC": ("Électronique", "Electronic"),
        "INFO_SOCIAL_811": ("Info-Social 811", "Info-Social 811"),
    },
    "Urgency": {
        "IMMEDIATE": ("Immédiate", "Immediate"),
        "URGENT": ("Urgente", "Urgent"),
        "ROUTINE": ("Courante", "Routine"),
    },
    "Accompaniment": {
        "NONE": ("Aucun", "None"),
        "PERSONALISED_REFERRAL": ("Référence personnalisée", "Personalised referral"),
        "ACCOMPANIMENT": ("Accompagnement", "Accompaniment"),
    },
    "InfoCategory": {
        "IDENTIFICATION": ("Identification", "Identification"),
        "CONTACT": ("Coordonnées", "Contact details"),
        "REFERRAL_REASON": ("Motif de la référence", "Reason for referral"),
        "ASSESSMENT": ("Évaluation", "Assessment"),
        "INTERVENTION_PLAN": ("Plan d'intervention", "Intervention plan"),
        "RISK_ASSESSMENT": ("Évaluation du risque", "Risk assessment"),
        "HEALTH": ("Renseignements de santé", "Health information"),
        "PSYCHOSOCIAL_HISTORY": ("Histoire psychosociale", "Psychosocial history"),
        "YOUTH_PROTECTION": ("Protection de la jeunesse", "Youth protection"),
        "THIRD_PARTY_SUPPLIED": ("Fournis par un tiers", "Supplied by a third party"),
        "CAUSE_OF_DEATH": ("Cause du décès", "Cause of death"),
    },
    "Purpose": {
        "REFERRAL": ("Référence (services à la personne)", "Referral (services to the person)"),
        "SERVICE_ON_BEHALF": ("Services rendus au nom de l'établissement", "Services on the institution's behalf"),
        "JOINT_FOLLOW_UP": ("Suivi conjoint", "Joint follow-up"),
        "EMERGENCY": ("Urgence (danger)", "Emergency (danger)"),
        "LEGAL_ORDER": ("Ordonnance", "Court order"),
        "COMPLAINT_QUALITY": ("Plaintes et qualité", "Complaints and quality"),
        "RESEARCH": ("Recherche", "Research"),
        "MANDATE_CONTRACT": ("Mandat ou contrat de service", "Mandate or service contract"),
        "USER_REQUESTED_TRANSFER": ("Transfert demandé par l'usager", "Transfer the user asked for"),
    },
    "GrantorRole": {
        "SELF": ("La personne elle-même", "The person themself"),
        "PARENT": ("Titulaire de l'autorité parentale", "Parent"),
        "TUTOR": ("Tuteur", "Tutor"),
        "CURATOR": ("Curateur", "Curator"),
        "MANDATARY": ("Mandataire", "Mandatary"),
        "CARE_SUBSTITUTE": ("Personne qui consent aux soins", "Substitute for care"),
    },
    "ConsentMethod": {
        "WRITTEN": ("Écrit", "Written"),
        "VERBAL_WITNESSED": ("Verbal, devant témoin", "Verbal, witnessed"),
        "ELECTRONIC": ("Électronique", "Electronic"),
    },
    "Obligation": {
        "REGISTER_ENTRY": ("Inscrire la communication au registre", "Enter the disclosure in the register"),
        "NOTE_IN_RECORD": ("Consigner la communication au dossier", "Note the disclosure in the record"),
        "MINIMUM_NECESSARY": ("Ne communiquer que le nécessaire", "Disclose only what is necessary"),
        "CONFIDENTIALITY_UNDERTAKINGS": (
            "Obtenir des engagements de confidentialité",
            "Obtain confidentiality undertakings",
        ),
        "AUTHORISED_DISCLOSER_ONLY": ("Seule une personne autorisée communique", "Only an authorised person discloses"),
        "ORDER_SCOPE_ONLY": ("S'en tenir à la portée de l'ordonnance", "Stay within the order's scope"),
        "NO_REDISCLOSURE": ("Le destinataire ne peut pas la communiquer à son tour", "No further disclosure"),
    },
    "Outcome": {
        "PERMIT": ("Permise", "Permitted"),
        "PERMIT_PARTIAL": ("Permise en partie", "Partly permitted"),
        "DENY": ("Refusée", "Denied"),
    },
    "RuleStatus": {
        "VERIFIED": ("vérifiée", "verified"),
        "NEEDS_LEGAL_REVIEW": ("à faire valider par les juristes", "needs legal review"),
    },
    "AgreementKind": {
        "SERVICE_108": ("Entente de service (art. 108)", "Service agreement (s. 108)"),
        "COLLABORATION": ("Entente de collaboration", "Collaboration agreement"),
    },
    "AgreementStatus": {
        "DRAFT": ("Ébauche", "Draft"),
        "SIGNED": ("Signée", "Signed"),
        "ACTIVE": ("En vigueur", "Active"),
        "SUSPENDED": ("Suspendue", "Suspended"),
        "TERMINATED": ("Résiliée", "Terminated"),
        "EXPIRED": ("Échue", "Expired"),
    },
    "DelayStandard": {
        "AAOR_FIRST_CONTACT": ("AAOR : premier contact (en personne)", "AAOR: first contact (in person)"),
        "AAOR_CALLBACK": ("AAOR : rappel", "AAOR: call-back"),
        "AAOR_ANALYSIS": ("AAOR : demande complétée", "AAOR: request completed"),
        "CONSULT_FIRST_CONTACT": ("Consultation : premier contact", "Consultation: first contact"),
        "CONSULT_FOLLOW_UP": ("Consultation : suivi commencé", "Consultation: follow-up started"),
        "URGENT_HANDLING": ("Demande urgente : premier contact", "Urgent referral: first contact"),
        "CRISIS_IMMEDIATE": ("Crise : intervention immédiate", "Crisis: immediate response"),
    },
    "ClockState": {
        "RUNNING": ("en cours", "running"),
        "MET": ("respecté", "met"),
        "AT_RISK": ("à risque", "at risk"),
        "BREACHED": ("dépassé", "breached"),
        "STOPPED": ("arrêté", "stopped"),
    },
    "MeetingMode": {
        "IN_PERSON": ("En personne", "In person"),
        "PHONE": ("Téléphone", "Phone"),
        "VIDEO": ("Visioconférence", "Video"),
        "GROUP": ("En groupe", "Group"),
    },
    "InquiryOutcome": {
        "OK": ("réussi", "OK"),
        "ASKED": ("demandé", "asked"),
        "NOT_FOUND": ("introuvable", "not found"),
        "INTEGRITY_FAILED": ("intégrité compromise", "integrity failed"),
        "FAILED": ("échec", "failed"),
    },
}
