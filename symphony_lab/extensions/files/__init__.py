"""The shipped `files` extension: Read, write and list files by absolute path; large contents go
through the ArtifactStore."""
