#!/usr/bin/env python3
"""Character error rate of OCR text against ground truth, as ../shared/README.md
defines it: both texts normalised (whitespace runs folded to one space,
trimmed), Levenshtein distance divided by the truth's length.

Truth formats: plain text (`.txt`), hOCR (`.hocr`: the words in document
order), a forms-zh page (`.json`: its `text`).

    scripts/cer.py TRUTH HYP            prints the CER of one page
    scripts/cer.py --pairs FILE         FILE: lines `NAME<TAB>TRUTH<TAB>HYP`;
                                        prints JSON: per page and overall

Per page also `words` (the truth's words) and `found` (how many of them
the hypothesis holds, as a multiset: a word read twice counts once per
time it is in the truth): word recall, which reading order cannot hide.

Overall CER is pooled (all edits / all truth characters); `mean` is the
mean of the pages' CERs. A missing hypothesis file counts as empty text.
Needs `rapidfuzz` (pip install rapidfuzz): pure-Python Levenshtein takes
minutes on a dense page.
"""
import html
import json
import re
import sys

try:
    from rapidfuzz.distance import Levenshtein
except ImportError:  # pragma: no cover
    sys.exit("scripts/cer.py needs rapidfuzz: python3 -m pip install rapidfuzz")


def normalise(text):
    return " ".join(text.split())


def truth_text(path):
    with open(path, encoding="utf-8") as f:
        raw = f.read()
    if path.endswith(".hocr"):
        words = re.findall(r"<span[^>]*class=['\"]ocrx_word['\"][^>]*>(.*?)</span>", raw, re.S)
        return " ".join(html.unescape(re.sub(r"<[^>]+>", "", w)) for w in words)
    if path.endswith(".json"):
        return json.loads(raw)["text"]
    return raw


def read_hyp(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def page(truth_path, hyp_path):
    truth = normalise(truth_text(truth_path))
    hyp = normalise(read_hyp(hyp_path))
    dist = Levenshtein.distance(hyp, truth)
    return dist, len(truth)


def found_words(truth_path, hyp_path):
    """(truth words, of them found in the hypothesis), as multisets."""
    from collections import Counter

    truth = Counter(truth_text(truth_path).split())
    hyp = Counter(read_hyp(hyp_path).split())
    return sum(truth.values()), sum((truth & hyp).values())


def main(argv):
    if len(argv) == 3 and argv[1] != "--pairs":
        dist, n = page(argv[1], argv[2])
        print(f"{dist / max(n, 1):.4f}")
        return 0
    if len(argv) != 3:
        sys.exit(__doc__)
    pages = []
    with open(argv[2], encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            name, truth_path, hyp_path = line.rstrip("\n").split("\t")
            dist, n = page(truth_path, hyp_path)
            words, found = found_words(truth_path, hyp_path)
            pages.append(
                {"name": name, "edits": dist, "chars": n, "cer": dist / max(n, 1), "words": words, "found": found}
            )
    edits = sum(p["edits"] for p in pages)
    chars = sum(p["chars"] for p in pages)
    out = {
        "pages": pages,
        "cer": edits / max(chars, 1),
        "mean": sum(p["cer"] for p in pages) / max(len(pages), 1),
    }
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
