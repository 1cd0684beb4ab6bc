"""Images and videos in and out: ``images`` (read, write, the one resize rule), ``probe`` (what a video file
holds), ``readers`` (files, frame directories, stdin) and ``writers`` (encoded files, stdout, frame
directories)."""

from animcli.common.errors import VideoError
from animcli.media.images import IMAGE_SUFFIXES, read_image, resize, resize_square, write_image
from animcli.media.probe import DEFAULT_FRAME_DIR_FPS, VideoInfo, probe_video
from animcli.media.readers import STDIO, VIDEO_SUFFIXES, VideoReader, frame_files, open_video
from animcli.media.writers import FrameDirWriter, VideoWriter, open_writer, write_video

__all__ = [
    "DEFAULT_FRAME_DIR_FPS", "IMAGE_SUFFIXES", "STDIO", "VIDEO_SUFFIXES", "FrameDirWriter", "VideoError", "VideoInfo",
    "VideoReader", "VideoWriter", "frame_files", "open_video", "open_writer", "probe_video", "read_image",
    "resize", "resize_square", "write_image", "write_video",
]
