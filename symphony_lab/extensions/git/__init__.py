"""The shipped `git` extension: git status, diff and commit in a repository given by absolute path
(the git CLI)."""
