import os

# Never let a test open a real window outside Xvfb, nor pick a GUI matplotlib backend.
os.environ.setdefault("MPLBACKEND", "Agg")
