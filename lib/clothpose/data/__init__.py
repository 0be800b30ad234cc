"""clothpose.data"""
