#!/usr/bin/env bash
# Release step: commit a built cookiecutter/cruft tree (`dsdeploy cookiecutter-tree TREE`) to the
# `cookiecutter` branch of REMOTE and tag it `cookiecutter-VERSION`, so that
# `cookiecutter gh:ORG/dsdeploy --checkout cookiecutter` (or a release's tag) renders it and
# `cruft update` follows the branch. The branch holds only generated trees, one commit a release.
# Usage: scripts/publish-cookiecutter.sh TREE VERSION REMOTE   (run by .github/workflows/release.yml)
set -euo pipefail
if [ $# -ne 3 ]; then
  echo "usage: $0 TREE VERSION REMOTE" >&2
  exit 2
fi
tree=$(cd "$1" && pwd)
version=$2
remote=$3
branch=cookiecutter
tag="cookiecutter-$version"
if [ ! -f "$tree/cookiecutter.json" ]; then
  echo "$tree is not a cookiecutter tree (no cookiecutter.json): build it with dsdeploy cookiecutter-tree" >&2
  exit 2
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git -C "$work" init --quiet --initial-branch="$branch"
# The branch's history goes on from its last release; the first release starts it.
if git -C "$work" fetch --quiet --depth=1 "$remote" "refs/heads/$branch" 2>/dev/null; then
  git -C "$work" reset --quiet --soft FETCH_HEAD
fi
cp -a "$tree/." "$work/"
git -C "$work" add --all
git -C "$work" -c user.name="dsdeploy release" -c user.email="release@dsdeploy.invalid" \
  commit --quiet --allow-empty -m "cookiecutter tree of dsdeploy $version"
git -C "$work" tag "$tag"
git -C "$work" push --quiet "$remote" "HEAD:refs/heads/$branch" "refs/tags/$tag"
echo "published the cookiecutter tree of $version to $branch and $tag"
