"""Cost of a defacement check's analysis: parse + fingerprint + compare, against naive difflib baselines."""

from __future__ import annotations

import argparse
import difflib
import random
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from netwatch.egov import fingerprint as fp  # noqa: E402

WORDS = ("đại hội đại biểu đảng bộ tỉnh nhiệm kỳ chính quyền điện tử dịch vụ công trực tuyến người dân "
         "doanh nghiệp thủ tục hành chính một cửa văn bản điều hành thông tin truyền thông an toàn mạng").split()


def portal(items: int, seed: int = 1) -> str:
    """A portal-like home page: navigation, a news list of `items` entries, scripts, forms."""
    rnd = random.Random(seed)

    def sentence(n: int) -> str:
        return " ".join(rnd.choice(WORDS) for _ in range(n)).capitalize() + "."

    news = "\n".join(f'<li class="item"><a href="/tin/{i}">{sentence(12)}</a><p>{sentence(40)}</p>'
                     f'<span class="date">2{i % 10}/11/2026</span></li>' for i in range(items))
    nav = "".join(f'<li><a href="/m/{i}">{sentence(3)}</a></li>' for i in range(60))
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>Cổng thông tin điện tử tỉnh</title>"
            + "".join(f'<script src="/static/s{i}.js"></script>' for i in range(15))
            + '<script src="https://cdn.tinh.test/jquery.js"></script></head><body>'
            f'<div id="congress-banner"><img alt="Chào mừng Đại hội"></div><nav><ul>{nav}</ul></nav>'
            f'<main id="content"><ul class="news">{news}</ul></main>'
            '<form action="/tim-kiem"><input name="q"></form><footer>Sở Thông tin và Truyền thông</footer>'
            "</body></html>")


def best_ms(fn: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    profile = fp.Profile(ignore=(fp.Selector.parse(".date"),))
    rules = fp.Rules(forbidden=tuple(fp.fold(w) for w in ("hacked by", "nhà cái uy tín", "casino online")),
                     required=(fp.Requirement.parse("#congress-banner"),))
    print(f"{'page':>10} {'bytes':>9} {'parse+fp ms':>12} {'compare ms':>11} {'rewrite ms':>11} "
          f"{'naive chars ms':>15} {'naive words ms':>15} {'ratio ours':>11} {'ratio naive':>12}")
    for items in (50, 300, 1500):
        html = portal(items)
        edited = html.replace("</ul></main>", "<li>Tin mới: khai mạc Đại hội</li></ul></main>", 1)
        rewritten = portal(items, seed=2)
        url = "https://portal.tinh.test/"
        base_page = fp.parse(html.encode(), url)
        base = fp.fingerprint(base_page, profile)
        edited_page = fp.parse(edited.encode(), url)
        edited_fp = fp.fingerprint(edited_page, profile)
        rewritten_page = fp.parse(rewritten.encode(), url)
        rewritten_fp = fp.fingerprint(rewritten_page, profile)

        analyse_ms = best_ms(lambda: fp.fingerprint(fp.parse(edited.encode(), url), profile), args.rounds)
        compare_ms = best_ms(lambda: fp.compare(base, edited_fp, edited_page, rules), args.rounds)
        rewrite_ms = best_ms(lambda: fp.compare(base, rewritten_fp, rewritten_page, rules), args.rounds)
        old_text, new_text = " ".join(base.blocks), " ".join(rewritten_fp.blocks)
        naive_rounds = max(1, args.rounds // 2) if items < 1500 else 1
        # Character-level difflib is quadratic: minutes at 500 KB, so only measured on the smaller pages.
        naive_chars_ms = best_ms(lambda: difflib.SequenceMatcher(None, old_text, new_text).ratio(),
                                 naive_rounds) if items <= 300 else float("nan")
        naive_words_ms = best_ms(lambda: difflib.SequenceMatcher(None, old_text.split(), new_text.split()).ratio(),
                                 naive_rounds)
        ours = fp.text_change(base.blocks, edited_fp.blocks)[0]
        naive = 1 - difflib.SequenceMatcher(None, " ".join(base.blocks).split(),
                                            " ".join(edited_fp.blocks).split()).ratio()
        print(f"{items:>6} items {len(html):>9,} {analyse_ms:>12.1f} {compare_ms:>11.1f} {rewrite_ms:>11.1f} "
              f"{naive_chars_ms:>15.1f} {naive_words_ms:>15.1f} {ours:>11.4f} {naive:>12.4f}")
    print("\ncompare = baseline vs the same page with one news item added; rewrite = every block differs.")
    print("naive = difflib over the whole text (characters or words) of a rewritten page, for scale.")


if __name__ == "__main__":
    main()
