"""Courseware (课件同步): uploaded PDFs and images turned into page images for the room.

Modules: `sniff` (the file's type from its first bytes, never its name),
`render` (the child process that opens the file with PDFium or Pillow and
writes bounded page images), `runner` (starts that child with a timeout and
resource limits, so a PDF bomb or a corrupt file becomes a typed error and
never a hung server), `storage` (the streamed upload and the page files),
`links` (short-lived page URLs an `<img>` can load without a bearer header).
"""
