"""The rollout engine: steps as data, pure weights and analysis, the persisted state machine, the runner."""
