"""Media both sides share: figure drawing, the MP4 recorder, the media probe."""
