"""clothpose.nms"""
