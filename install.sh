#!/bin/sh
# Install Leoflow from this checkout.
#
#   ./install.sh          install Leoflow with Lite's IDE (the `lite` extra) into its own
#                         virtual environment (~/.leoflow/venv by default) and link the
#                         `leoflow` command into ~/.local/bin
#   ./install.sh --dev    install this checkout in editable mode with the development
#                         extras, Lite's included, into ./.venv (pip install -e ".[dev,lite]")
#
# POSIX sh, idempotent (run it again to upgrade), never uses sudo. Uses uv when it is on the
# PATH, else python3 -m venv + pip. Environment: PYTHON (interpreter to use, default
# python3), LEOFLOW_VENV (where the non-dev install goes), LEOFLOW_BIN (where the commands
# are linked, default ~/.local/bin).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
mode=user
for arg in "$@"; do
    case "$arg" in
        --dev) mode=dev ;;
        -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "install.sh: unknown option '$arg' (try --help)" >&2; exit 2 ;;
    esac
done

python=${PYTHON:-python3}
if ! command -v "$python" >/dev/null 2>&1; then
    echo "install.sh: '$python' not found; install Python 3.11 or newer first" >&2
    exit 1
fi
if ! "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
    echo "install.sh: Leoflow needs Python 3.11 or newer; '$python' is $("$python" -V 2>&1)" >&2
    exit 1
fi

if [ "$mode" = dev ]; then
    venv="$here/.venv"
    target="-e $here[dev,lite]"
else
    venv=${LEOFLOW_VENV:-$HOME/.leoflow/venv}
    target="$here[lite]"
fi

echo "==> creating the virtual environment $venv"
if command -v uv >/dev/null 2>&1; then
    [ -x "$venv/bin/python" ] || uv venv --quiet --python "$python" "$venv"
    echo "==> installing Leoflow with uv"
    # shellcheck disable=SC2086 # $target holds "-e path[dev,lite]" on purpose
    uv pip install --quiet --python "$venv/bin/python" $target
else
    [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
    echo "==> installing Leoflow with pip (this takes a minute the first time)"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
    # shellcheck disable=SC2086
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check $target
fi

if [ "$mode" = dev ]; then
    echo "==> done: $("$venv/bin/leoflow" --version) in $venv"
    echo "next: .venv/bin/python -m pytest"
    exit 0
fi

bin=${LEOFLOW_BIN:-$HOME/.local/bin}
mkdir -p "$bin"
for command in leoflow leoflow-server leoflow-agent; do
    if [ -x "$venv/bin/$command" ]; then
        ln -sf "$venv/bin/$command" "$bin/$command"
    fi
done
echo "==> done: $("$venv/bin/leoflow" --version), command linked into $bin"
case ":$PATH:" in
    *":$bin:"*) ;;
    *) echo "note: $bin is not on your PATH; add it with: export PATH=\"$bin:\$PATH\"" ;;
esac
echo "next: leoflow init my_dag && leoflow validate my_dag"
