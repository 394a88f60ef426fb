"""The SFU: Worker > Room > Transport > Producer / Consumer. Forwards encoded frames; no HTTP code."""
