#!/usr/bin/env bash
# The HTML report's screenshots in docs/images (docs/accounting.md shows them), from a small site
# history made with the quickstart's data: a pretraining job whose first launch is killed and
# resumed, then two adaptations of it (export, then model.init_from, twice: three generations),
# each with evaluations and checkpoints, all in one ledger. Then `atelier report --html` with the
# last model's lineage, and headless Chromium's screenshot of the page. From the repository root
# after the README's set-up (the quickstart's data in data/); about 3 minutes on 2 cores. Needs
# Debian's chromium and python3-pil.
#
#   bash docs/images/make-report-screenshots.sh [DEMO-DIR]
set -euo pipefail
atelier=$PWD/.build/release/atelier
demo=${1:-/tmp/atelier-report-demo}
chromium=$(command -v chromium || command -v chromium-browser || true)
[[ -n $chromium ]] || { echo "needs Debian's chromium (apt-get install chromium)" >&2; exit 2; }
[[ -f data/tokenizer.json ]] || { echo "run bash jobs/quickstart/prepare-data.sh first" >&2; exit 2; }
rm -rf "$demo"
mkdir -p "$demo"
mpi=(mpirun -np 2)
[[ $(id -u) -ne 0 ]] || mpi+=(--allow-run-as-root)
common=(--set accounting.ledger="$demo/ledger.sqlite" --set accounting.interval_seconds=2 --set train.log_interval=100
        --set train.eval_interval=100 --set checkpoint.interval_iterations=100)

train() {   # NAME GROUP ITERATIONS [--set ...]: the quickstart job under another name
    local name=$1 group=$2 iterations=$3; shift 3
    "${mpi[@]}" "$@" "$atelier" train jobs/quickstart/quickstart.toml --set name="$name" --set working_group="$group" \
        --set run_dir="$demo/runs/$name" --set train.iterations="$iterations" "${common[@]}" "${settings[@]}"
}

# 1. Pretraining: rank 1 is killed (SIGKILL) at iteration 250, the job resumes from iteration 200.
settings=()
train pretrain architecture-and-scaling 400 -x ATELIER_FAULT=forward@250:1 || echo "(the first launch was killed, as planned)"
train pretrain architecture-and-scaling 400
"$atelier" export --format hf "$demo/runs/pretrain/checkpoints/iter_0000400.h5" "$demo/models/pretrain"

# 2. and 3. Two adaptations, each from the previous one's export, languages mixed closer to their
# sizes (alpha 0.8, then 1.0: the small ones, Greek first, get fewer tokens).
settings=(--set model.init_from="$demo/models/pretrain" --set data.alpha=0.8 --set optimizer.lr=1e-3)
train adapt-1 multilinguality 200
"$atelier" export --format hf "$demo/runs/adapt-1/checkpoints/iter_0000200.h5" "$demo/models/adapt-1"
settings=(--set model.init_from="$demo/models/adapt-1" --set data.alpha=1.0 --set optimizer.lr=1e-3)
train adapt-2 multilinguality 200

"$atelier" report --ledger "$demo/ledger.sqlite"
"$atelier" report --ledger "$demo/ledger.sqlite" --lineage "$demo/runs/adapt-2" --html "$demo/report.html"
# One screenshot per section the docs show: the page's head (its styles) with that section alone,
# trimmed below its last line (python3 with PIL: apt-get install python3-pil).
python3 - "$chromium" "$demo" docs/images <<'PY'
import re, subprocess, sys
from PIL import Image
chromium, demo, out = sys.argv[1:]
page = open(f"{demo}/report.html", encoding="utf-8").read()
head, body = page.split("<body>", 1)
starts = [m.start() for m in re.finditer("<h2>", body)] + [body.index("</body>")]
sections = {body[a:b].split("</h2>")[0][4:]: body[a:b] for a, b in zip(starts, starts[1:])}
wanted = {"lineage": "Lineage of adapt-2", "languages": "Per language", "estimates": "Estimate against actual",
          "lost-work": "Lost work by cause"}
for name, title in wanted.items():
    html, png = f"{demo}/section-{name}.html", f"{out}/report-{name}.png"
    open(html, "w", encoding="utf-8").write(head + "<body>" + sections[title] + "</body></html>")
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1200,1600",
                    f"--screenshot={png}", f"file://{html}"], check=True, stderr=subprocess.DEVNULL)
    image = Image.open(png).convert("RGB")
    grey = image.convert("L")
    bottom = max(y for y in range(0, image.height, 4) if min(grey.getpixel((x, y)) for x in range(0, image.width, 8)) < 250)
    image.crop((0, 0, image.width, min(image.height, bottom + 24))).save(png, optimize=True)
    print(f"screenshot of '{title}': {png} ({image.width} x {min(image.height, bottom + 24)})")
PY
