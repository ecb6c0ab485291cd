"""napari-recist: the napari plugin of recist-tool (a thin layer over ``recist_tool``)."""
