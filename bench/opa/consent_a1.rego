# Route A-1 of the consent engine, for the benchmark's comparison with Open Policy Agent: a consent of the subject
# covers the recipient, the purpose and the time of the request; what may be disclosed is what was asked and
# consented to. `data.consents` holds the same consents the platform's store holds (bench/consent_decisions.py).
package rls.consent

now := time.now_ns()

covering contains consent if {
	some consent in data.consents[input.subject_id]
	input.recipient_org_id in consent.recipient_org_ids
	input.purpose in consent.purposes
	consent.valid_from_ns <= now
	in_force(consent)
}

in_force(consent) if consent.valid_until_ns == null

in_force(consent) if now < consent.valid_until_ns

permitted contains category if {
	some consent in covering
	some category in consent.categories
	category in input.categories
}

outcome := "PERMIT" if {
	count(permitted) > 0
} else := "DENY"

decision := {"outcome": outcome, "permitted_categories": sort(permitted)}
