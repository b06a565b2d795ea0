class EvaluationDashboard: pass
