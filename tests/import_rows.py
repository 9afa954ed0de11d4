"""Six JSONL turns in two namespaces, shared by the command line's and the Python
API's export and import tests: metadata of several types, an id of the caller's
own, two episodes and a turn in another namespace."""

ROWS = [
    {"text": "Hi, I'm planning a trip to Japan in October", "speaker": "user", "episode": "s1",
     "time": "2024-06-01T10:00", "metadata": {"source": "chat", "tags": ["travel"], "n": 1.5}},
    {"text": "Great! Which cities?", "speaker": "assistant", "episode": "s1", "time": "2024-06-01T10:01"},
    {"text": "Kyoto and Osaka, mostly for the food", "speaker": "user", "episode": "s1",
     "time": "2024-06-01T10:02", "id": "my-own-id"},
    {"text": "I booked the flights today", "speaker": "user", "episode": "s2", "time": "2024-06-10T08:00"},
    {"text": "Which airline did you pick?", "speaker": "assistant", "episode": "s2", "time": "2024-06-10T08:01"},
    {"text": "Work notes: the quarterly report is due Friday", "namespace": "work", "time": "2024-06-11"},
]
