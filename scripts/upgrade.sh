#!/usr/bin/env bash
# `make upgrade [REF=<remote>/<branch>]`: brings a checkout of anklume up
# to date and re-syncs the tree. A packaged install upgrades with
# `apt upgrade` instead (docs/lifecycle.md).
#
#  1. refuses when framework files (every tracked file but the user's)
#     have local changes, and lists them;
#  2. fast-forwards to REF (default: the branch's configured upstream),
#     fetching its remote first; never merges local commits;
#  3. checks that the user's files were not touched: infra.yml, infra/,
#     roles_custom/, anklume.conf.yml, inventory/, group_vars/, host_vars/;
#  4. re-syncs (make sync) when there is an infra: only the managed blocks
#     of the generated files change, never what is around them;
#  5. reports what changed.
#
#   scripts/upgrade.sh [REF]        (ANKLUME_GEN: the generator to sync with)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

USER_PATHS=(infra.yml infra roles_custom anklume.conf.yml inventory group_vars host_vars)

die() { printf 'ERROR: %s\n' "$@" >&2; exit 1; }

git rev-parse --is-inside-work-tree >/dev/null 2>&1 ||
    die "$(pwd) is not a git checkout. A packaged install upgrades with: apt update && apt upgrade"

version() { sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1; }
# A checksum of every user file (names and contents).
user_sum() {
    local p existing=()
    for p in "${USER_PATHS[@]}"; do [ -e "$p" ] && existing+=("$p"); done
    [ ${#existing[@]} -gt 0 ] || { echo none; return; }
    find "${existing[@]}" -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum
}

ref=${1:-}
if [ -z "$ref" ]; then
    ref=$(git rev-parse --abbrev-ref --symbolic-full-name '@{upstream}' 2>/dev/null) ||
        die "this branch has no upstream: name one, e.g. make upgrade REF=origin/main"
fi
remote=${ref%%/*}
if [ "$remote" != "$ref" ] && git remote | grep -qx "$remote"; then
    echo "Fetching $remote ..."
    git fetch --quiet "$remote" || die "cannot fetch $remote (git says why above)"
fi
git rev-parse --verify --quiet "$ref^{commit}" >/dev/null || die "unknown ref '$ref'"

excludes=()
for p in "${USER_PATHS[@]}"; do excludes+=(":(exclude)$p"); done
dirty=$(git status --porcelain --untracked-files=no -- . "${excludes[@]}")
if [ -n "$dirty" ]; then
    echo "ERROR: framework files have local changes; make upgrade changes nothing:" >&2
    printf '%s\n' "$dirty" | sed 's/^.. /  /' >&2
    echo "Commit them to a branch of your own, stash them (git stash) or undo them" >&2
    echo "(git checkout -- FILE), then run make upgrade again. Your own files" >&2
    echo "(${USER_PATHS[*]}) never block it." >&2
    exit 1
fi

old=$(git rev-parse HEAD) old_version=$(version) before=$(user_sum)
if ! git merge --ff-only --quiet "$ref" 2>/dev/null; then
    ahead=$(git rev-list --count "$ref..HEAD")
    die "cannot fast-forward to $ref: this checkout has $ahead commit(s) of its own (git log $ref..HEAD)." \
        "Rebase them (git rebase $ref) or merge by hand, then run make sync."
fi
new=$(git rev-parse HEAD) new_version=$(version)
[ "$(user_sum)" = "$before" ] ||
    echo "WARNING: the update changed files among ${USER_PATHS[*]}: they are tracked in git; check git diff $old $new" >&2

if [ "$old" = "$new" ]; then
    echo "Already up to date: anklume $new_version ($(git rev-parse --short HEAD))."
else
    echo "Updated anklume $old_version ($(git rev-parse --short "$old")) -> $new_version ($(git rev-parse --short "$new")):"
    git diff --stat "$old" "$new" | tail -1 | sed 's/^ */  /'
fi

if [ -e infra.yml ] || [ -e infra/base.yml ]; then
    echo "Re-syncing the tree ..."
    out=$(make --no-print-directory sync ${ANKLUME_GEN:+ANKLUME_GEN="$ANKLUME_GEN"} 2>&1) || {
        printf '%s\n' "$out" >&2
        die "make sync failed (above): the checkout is updated, the tree is not"
    }
    written=$(grep -c '  Written:' <<<"$out")
    unchanged=$(grep -c '  Unchanged:' <<<"$out")
    grep '^WARNING' <<<"$out"
    echo "  $written file(s) written, $unchanged unchanged (only managed blocks change)."
    echo "Your files were kept: ${USER_PATHS[*]}. Next: make apply"
else
    echo "No infra.yml or infra/ here: nothing to re-sync."
fi
