"""Third-party sharing only as the policy allows: recipients, disclosures with a reference,
propagation of erasure, restriction and corrections to the recipients that received a
person's data (GDPR Art. 19), and the record of processing activities (Art. 30).
See docs/sharing.md."""
