"""A six-line chat between two people, shared by the relevance, answerable-gate
and prompt-adapter tests: each line is about one thing, so a question about one
of them has one answer and a question about none has none."""

CHAT = [
    ("Alice", "I moved to Berlin last spring for a new job at a bakery."),
    ("Bob", "Nice! My dog Rex loves the park near my flat."),
    ("Alice", "I started a pottery class on Tuesdays, I made a blue vase."),
    ("Bob", "I am training for the city marathon in October."),
    ("Alice", "My sister Clara lives in Lisbon and teaches violin."),
    ("Bob", "I bought a red bicycle to ride to work."),
]
