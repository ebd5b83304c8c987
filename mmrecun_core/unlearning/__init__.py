"""Unlearning a trained graph recommender: what to forget (``forget``), the model's own rows (``rows``),
the MMRecUN objective (``objective``), the loop that minimises it (``loop``) and its settings (``config``),
its Gold-free stopping rule (``criterion``), the replay of redrawn item rows (``replay``) and the evidence of
forgetting (``evidence``)."""
