"""Unlearning a trained graph recommender: what to forget (``forget``), the model's own rows (``rows``),
the MMRecUN objective (``objective``), the loop that minimises it (``loop``) and its settings (``config``),
its Gold-free stopping rule (``criterion``) and the held-out interactions its levels are read on (``held_out``), the
replay of redrawn item rows (``replay``), Adam on chosen rows (``row_adam``), and the evidence of forgetting
(``evidence``) with its membership attacker (``membership``)."""
