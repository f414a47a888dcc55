#!/usr/bin/env bash
# The quickstart's data, from this machine's Debian packages only (nothing is downloaded):
# English and 14 translations of the manual pages (manpages-de, -es, ... ; the README's set-up
# command installs them) -> data/manpages.jsonl -> a 4096-token byte-level BPE tokenizer
# (data/tokenizer.json, languages weighted with alpha 0.3) -> one Megatron indexed dataset per
# language (data/manpages_LANG_text_document.bin/.idx), tokenized on 2 ranks.
# Run from the repository root after `swift build -c release`. Takes about two minutes.
set -euo pipefail
atelier=.build/release/atelier
mpirun_flags=()
if [ "$(id -u)" = 0 ]; then mpirun_flags+=(--allow-run-as-root); fi
"$atelier" corpus data/manpages.jsonl --max-pages 120
"$atelier" tokenizer train data/manpages.jsonl --vocab-size 4096 --alpha 0.3 --output data/tokenizer.json
mpirun "${mpirun_flags[@]}" -np 2 "$atelier" preprocess data/manpages.jsonl --tokenizer data/tokenizer.json \
    --output-prefix data/manpages --by-language
