"""The platform as an operator deploys it: one model of its processes, settings, secrets, topics and principals,
rendered into `deploy/compose/` and `deploy/k8s/` (`rls deploy render`), and the one-shot jobs those run."""
