"""The course service: the public catalogue and instructors' courses and lessons."""
