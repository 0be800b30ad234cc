"""clothpose.core"""
