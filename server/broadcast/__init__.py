"""TV / broadcast output (电视教学): one composed stream of a lesson to RTMP or MPEG-TS.

`tongbu broadcast LESSON_ID --to URL` joins the live lesson as a hidden
subscriber, decodes the main classroom (and a shared screen, if any), composes
one picture and feeds raw frames to an ffmpeg process that encodes H.264 + AAC
and sends it to an RTMP server or as MPEG-TS over UDP/SRT to a cable-TV
head-end. `--library ENTRY_ID` / `--file PATH` plays a recording out the same
way (`ffmpeg -re`, no re-encode). Modules: `target` (URL checks), `status`,
`ffmpeg` (the encoder process and its progress), `compose` (pictures and
sound), `session` (live and playout runs with retries), `cli`, `manager` and
`api` (start/stop/status from the server, each broadcast its own process).
"""
