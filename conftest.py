"""Test session settings: ci profile, a throw-away cache, no progress bars (also for nbmake kernels)."""
import os
import tempfile

_tmp = tempfile.mkdtemp(prefix="critnotes-test-")
os.environ["CRITNOTES_PROFILE"] = os.environ.get("CRITNOTES_TEST_PROFILE", "ci")
os.environ.setdefault("CRITNOTES_CACHE", os.path.join(_tmp, "cache"))
os.environ.setdefault("CRITNOTES_RESULTS", os.path.join(_tmp, "results"))
os.environ.setdefault("CRITNOTES_PROGRESS", "off")
os.environ.setdefault("CRITNOTES_DATA", os.path.join(_tmp, "data"))
os.environ.pop("MPLBACKEND", None)
