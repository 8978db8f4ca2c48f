#!/usr/bin/env bash
# Generates the PLACEHOLDER Haitian Creole audio of the IVR with espeak-ng, from the `text` and
# `audio` of ivr-flows/prompts/ht.yaml: each fixed part of a text (the words between placeholders)
# becomes the next file of its `audio` list, and audio/ht/digits/0-9.wav speak the digits.
# Output: 8 kHz mono 16-bit PCM WAV (telephone quality; small files).
#
# These are stand-ins so the flow works end to end before a native speaker records the real
# prompts (ivr-flows/audio/ht/PLACEHOLDER.md). Never run it over human recordings: it overwrites.
#
# Needs: espeak-ng (with the `ht` voice), sox, python3 (standard library only).
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
flows="$repo_root/ivr-flows"
for tool in espeak-ng sox python3; do
  command -v "$tool" >/dev/null || { echo "generate-placeholder-audio: $tool is not installed" >&2; exit 1; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Python prints "<file>\t<text>" per file to generate; it refuses what it does not understand
# rather than guess (the form is the one documented in ivr-flows/README.md).
python3 - "$flows/prompts/ht.yaml" >"$work/plan.tsv" <<'PY'
import re, sys

path = sys.argv[1]
prompts, key = {}, None
for number, line in enumerate(open(path, encoding="utf-8"), 1):
    stripped = line.strip()
    if not stripped or stripped.startswith("#"):
        continue
    if re.fullmatch(r'sms_[a-z0-9_]+:\s*".*"', line.rstrip()):
        key = None  # written texts (SMS, WhatsApp): never spoken, no audio
        continue
    if m := re.fullmatch(r"([a-z0-9_]+):", line.rstrip()):
        key = m.group(1)
        prompts[key] = {}
    elif key and (m := re.fullmatch(r'\s+text:\s*"(.*)"', line.rstrip())):
        prompts[key]["text"] = m.group(1)
    elif key and (m := re.fullmatch(r"\s+audio:\s*\[(.*)\]", line.rstrip())):
        prompts[key]["audio"] = [item.strip().strip('"') for item in m.group(1).split(",")]
    else:
        sys.exit(f"{path}:{number}: expected `key:`, `  text: \"...\"` or `  audio: [...]`")

for key, prompt in prompts.items():
    if "text" not in prompt or "audio" not in prompt:
        sys.exit(f"{path}: prompt '{key}' needs both text and audio")
    # The text's fixed parts (those with a letter or digit) and placeholders, in order.
    parts = [p for p in re.split(r"(\{[a-z_]+\})", prompt["text"])
             if p.startswith("{") or re.search(r"\w", p)]
    if len(parts) != len(prompt["audio"]):
        sys.exit(f"{path}: prompt '{key}': text has {len(parts)} parts, audio lists {len(prompt['audio'])}")
    for part, segment in zip(parts, prompt["audio"]):
        if part.startswith("{") or segment.startswith("{"):
            if part != segment:
                sys.exit(f"{path}: prompt '{key}': text has {part} where audio has {segment}")
            continue
        print(f"{segment}\t{part.strip()}")

# The digits, as words: read one by one for case numbers, PINs and menu keys.
for digit, word in enumerate(["zewo", "en", "de", "twa", "kat", "senk", "sis", "sèt", "uit", "nèf"]):
    print(f"audio/ht/digits/{digit}.wav\t{word}")
PY

count=0
while IFS=$'\t' read -r file text; do
  mkdir -p "$(dirname "$flows/$file")"
  espeak-ng -v ht -s 150 -w "$work/raw.wav" "$text"
  # -D: no dither, so re-running gives byte-identical files (no git churn).
  sox -D "$work/raw.wav" -r 8000 -c 1 -b 16 "$flows/$file"
  count=$((count + 1))
done <"$work/plan.tsv"

echo "generated $count placeholder files under ivr-flows/audio/ht ($(du -sh "$flows/audio/ht" | cut -f1))" >&2
