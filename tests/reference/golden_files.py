"""Writing a golden folder, or checking it: what the multi-file golden scripts share."""
from pathlib import Path


def write_or_check_files(out: Path, files: dict, check: bool) -> int:
    """Writes files ({name: text}) into out, removing files no longer made; with check, compares
    them with what out holds and writes nothing. The exit status."""
    if check:
        bad = [name for name, text in files.items()
               if not (out / name).exists() or (out / name).read_text(encoding="utf-8") != text]
        print("check:", "ok" if not bad else "MISMATCH in " + ", ".join(bad))
        return 1 if bad else 0
    out.mkdir(parents=True, exist_ok=True)
    for old in out.iterdir():
        if old.name not in files:
            old.unlink()
    for name, text in files.items():
        (out / name).write_text(text, encoding="utf-8")
        print("wrote", out / name, len(text.splitlines()), "lines")
    return 0
