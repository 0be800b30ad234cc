"""clothpose.models"""
